"""A private Dovecot and Postfix on 127.0.0.1 for the interop tests (Debian 12 packages).

Rules of this module:
- Everything an instance owns lives in one directory made here: configuration,
  sockets, state, logs, queue and maildirs. Nothing under /etc or /var is read
  or written, and every listener is on 127.0.0.1, on a free high port.
- Starting waits for each listener with a deadline (``START_TIMEOUT``); a
  server that does not come up raises ``MTAFailed`` with its log. Stopping
  never hangs either: a polite stop, a deadline, then SIGKILL to the process
  group, which is killed before the leader is reaped (so its id cannot have
  been reused).
- Both servers run as root (as in CI) and drop to the Debian users their
  packages create: ``dovecot`` and ``dovenull`` for Dovecot's own processes,
  ``postfix`` for Postfix's. Mail is stored as ``nobody``, for Postfix's
  ``virtual`` delivery agent and Dovecot's mail processes alike. The
  directory is world-traversable (0755) so those users reach their files;
  pytest's own temporary directories are private to root and would not do.

Theory of operation: ``Dovecot.start`` serves IMAP and POP3 (plaintext
logins allowed, STARTTLS offered) and an auth listener; ``Postfix.start``
runs ``postfix start-fg`` (the master as our child, so its process group is
ours to stop) with an smtpd that asks Dovecot to authenticate
(``smtpd_sasl_type = dovecot``), offers AUTH only after STARTTLS, and
delivers ``DOMAIN`` into maildirs; every other domain goes to the ``error``
transport, so nothing leaves the machine.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import grp
import hashlib
import hmac
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Self

from sasl_kit.certificates import self_signed
from tests.interop.peers import ALICE, ANNA, Account

DOVECOT = "/usr/sbin/dovecot"
POSTFIX = "/usr/sbin/postfix"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

DOMAIN = "example.test"
HOST = "127.0.0.1"
# Who logs in (Dovecot's passdb) and who receives mail (Postfix's mailbox map).
ACCOUNTS: tuple[Account, ...] = (ALICE, ANNA)
MAILBOXES = ("alice", "bob", "carol", "dave")
# The mechanisms the Dovecot of Debian 12 has (no NTLM: listing it breaks its auth process).
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256")
MAIL_USER = "nobody"
# How Dovecot's passdb stores a password ({SCHEME}value). Only PLAIN lets it verify the
# shared-secret mechanisms; with a hash it still advertises them but cannot check them.
STORED_SCHEMES = {
    "PLAIN": lambda password: f"{{PLAIN}}{password}",
    "SHA256": lambda password: (
        "{SHA256}" + base64.b64encode(hashlib.sha256(password.encode()).digest()).decode("ascii")
    ),
}


class MTAFailed(Exception):
    """A server did not start or stop as it should; the message carries its log."""


def free_ports(count: int) -> list[int]:
    """Distinct ports nobody listens on now (held open together so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]


def private_directory() -> Path:
    """A fresh world-traversable directory under the system temp dir (see the module rules)."""
    directory = Path(tempfile.mkdtemp(prefix="sasl-kit-mta-"))
    directory.chmod(0o755)
    return directory


@dataclass(frozen=True)
class TLSFiles:
    """A self-signed P-256 certificate for 127.0.0.1; ``cafile`` is the certificate itself."""

    cert: Path
    key: Path

    @property
    def cafile(self) -> str:
        return str(self.cert)


def make_certificate(directory: Path) -> TLSFiles:
    return TLSFiles(*self_signed((HOST,)).write(directory))


@dataclass(frozen=True)
class MailSite:
    """The directory both servers share: the certificate to trust and where mail lands."""

    root: Path
    tls: TLSFiles

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def cafile(self) -> str:
        return self.tls.cafile

    def messages(self, box: str) -> list[Path]:
        """Files delivered to ``box`` so far (its maildir's ``new``)."""
        new = self.mail / box / "new"
        return sorted(new.iterdir()) if new.is_dir() else []

    def delivered(self, box: str, marker: str) -> list[EmailMessage]:
        """The messages in ``box`` whose Subject holds ``marker``."""
        found = []
        for path in self.messages(box):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if marker in str(message.get("Subject", "")):
                found.append(message)
        return found

    def wait_for_mail(
        self, box: str, marker: str, *, timeout: float = START_TIMEOUT
    ) -> EmailMessage:
        """The one delivered message for ``box`` with ``marker``; ``MTAFailed`` at the deadline."""
        (message,) = self.wait_for_mails(box, marker, 1, timeout=timeout)
        return message

    def wait_for_mails(
        self, box: str, marker: str, count: int, *, timeout: float = START_TIMEOUT
    ) -> list[EmailMessage]:
        """The ``count`` messages delivered to ``box`` with ``marker``, once that many are
        there (more is a failure of the caller's assertion); ``MTAFailed`` at the deadline."""
        deadline = time.monotonic() + timeout
        while len(found := self.delivered(box, marker)) < count:
            if time.monotonic() > deadline:
                raise MTAFailed(
                    f"{len(found)} of {count} messages {marker!r} in {box}'s maildir "
                    f"within {timeout} s"
                )
            time.sleep(0.05)
        return found


@contextlib.contextmanager
def mail_site() -> Iterator[MailSite]:
    """A fresh ``MailSite`` with its certificate and an empty mail store; removed afterwards."""
    root = private_directory()
    try:
        site = MailSite(root, make_certificate(root))
        site.mail.mkdir()
        os.chown(site.mail, *_ids(MAIL_USER))
        yield site
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


class Server:
    """One server process started by us in its own process group, stopped with a deadline."""

    name = "server"

    def __init__(self, site: MailSite) -> None:
        self.site = site
        self.directory = site.root / self.name
        self.directory.mkdir()
        self.log = self.directory / "log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: Sequence[str]) -> None:
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C.UTF-8"},
            )

    def failure(self, what: str) -> MTAFailed:
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else "(no log)"
        return MTAFailed(f"{self.name}: {what}\n--- {self.log} ---\n{text}")

    def _wait_for(self, port: int, banner: bytes) -> None:
        """Until ``port`` accepts and greets with ``banner``, or the deadline passes."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._exited():
                raise self.failure(f"exited while starting (port {port})")
            try:
                with socket.create_connection((HOST, port), timeout=1.0) as conn:
                    if not banner or conn.recv(512).startswith(banner):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self.failure(f"no {banner!r} on port {port} within {START_TIMEOUT} s")
            time.sleep(0.05)

    def log_count(self, text: str) -> int:
        """How often ``text`` is in the server's log so far."""
        return self.log.read_text("utf-8", "replace").count(text)

    def logged_again(self, text: str, before: int, *, timeout: float = START_TIMEOUT) -> bool:
        """Whether ``text`` is in the log more than ``before`` times within ``timeout``
        (a server may log through a process of its own, a moment after it answered)."""
        deadline = time.monotonic() + timeout
        while self.log_count(text) <= before:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _exited(self) -> bool:
        """Whether our child exited, without reaping it: its pid, the group's id, stays ours."""
        assert self._proc is not None
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self._proc.pid, flags) is not None

    def _polite_stop(self) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        """Stop politely; after ``STOP_TIMEOUT`` or anyway, kill what is left of the group."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            self._polite_stop()
            deadline = time.monotonic() + STOP_TIMEOUT
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(0.02)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Dovecot(Server):
    """``dovecot -F`` with IMAP, POP3 and an auth listener for Postfix, all on loopback."""

    name = "dovecot"

    def __init__(self, site: MailSite, *, scheme: str = "PLAIN") -> None:
        super().__init__(site)
        self.stored = STORED_SCHEMES[scheme]
        self.imap_port, self.pop3_port, self.auth_port = free_ports(3)
        self.imaps_port, self.pop3s_port = free_ports(2)  # implicit TLS (RFC 8314)
        self.config = self.directory / "dovecot.conf"

    mechanisms = MECHANISMS
    protocols = "imap pop3"  # with _protocol_config and _wait_ready: what a subclass changes

    def _passdb(self) -> str:
        """The passdb block: a passwd-file with every account's stored password."""
        users = self.directory / "users"
        # passwd-file: user:{scheme}password:uid:gid:gecos:home:shell:extra
        users.write_text(
            "".join(f"{a.user}:{self.stored(a.password)}::::::\n" for a in ACCOUNTS),
            encoding="utf-8",
        )
        return f"passdb {{\n  driver = passwd-file\n  args = {users}\n}}"

    def start(self) -> None:
        directory = self.directory
        self.config.write_text(
            f"""\
instance_name = sasl-kit-{directory.name}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {self.log}
listen = {HOST}
protocols = {self.protocols}
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
ssl = yes
ssl_cert = <{self.site.tls.cert}
ssl_key = <{self.site.tls.key}
disable_plaintext_auth = no
auth_mechanisms = {" ".join(m.lower() for m in self.mechanisms)}
auth_verbose = yes
auth_failure_delay = 0
mail_location = maildir:{self.site.mail}/%n
mail_uid = {MAIL_USER}
mail_gid = {grp.getgrgid(_ids(MAIL_USER)[1]).gr_name}
first_valid_uid = 1
{self._passdb()}
userdb {{
  driver = static
  args = home={self.site.mail}/%n
}}
{self._protocol_config()}
# No auth penalty: with the anvil socket closed to it, auth stops delaying
# repeated failures from one IP (2, 4, 8, 15 s), which the tests provoke on purpose.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""",
            encoding="utf-8",
        )
        self._spawn([DOVECOT, "-c", str(self.config), "-F"])
        self._wait_ready()

    def _protocol_config(self) -> str:
        """The listeners of ``protocols`` (and of the auth service, for Postfix)."""
        return f"""\
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = {self.pop3s_port}
  }}
}}
service auth {{
  inet_listener {{
    port = {self.auth_port}
  }}
}}"""

    def _wait_ready(self) -> None:
        self._wait_for(self.imap_port, b"* OK")
        self._wait_for(self.pop3_port, b"+OK")
        self._wait_for(self.auth_port, b"VERSION")


OAUTH_KEY = b"sasl-kit interop: the HS256 key of the OAuth Dovecot"
ISSUED_AGO = 5
"""Seconds before now that ``mint_token`` says a token was issued (``iat``), as a real
issuer's token is older than its first use. Dovecot 2.3.19 refuses ``iat > time(NULL)``
with no leeway (lib-oauth2/oauth2-jwt.c), and glibc's ``time()`` reads the kernel's
coarse clock, a tick (about 4 ms here) behind the ``clock_gettime`` that Python's
``time.time()`` reads: a token minted as "now" in the first milliseconds of a second
was "issued in future" for Dovecot (2 of 300 logins, each minted < 2 ms past a second)."""


def mint_token(
    user: str, *, key: bytes = OAUTH_KEY, lifetime: int = 600, issued_ago: int = ISSUED_AGO
) -> str:
    """An HS256 JWT (RFC 7519) for ``user`` that ``DovecotOAuth`` validates locally,
    issued ``issued_ago`` seconds ago and expiring ``lifetime`` seconds from now.

    Dovecot 2.3 wants header ``typ`` exactly "JWT", the user in ``sub``, an
    integer ``exp``; ``iat`` is checked not to lie in the future (``ISSUED_AGO``).
    """

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    now = int(time.time())
    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    times = {"iat": now - issued_ago, "exp": now + lifetime}
    claims = part(json.dumps({"sub": user, **times}).encode())
    signature = hmac.new(key, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{part(signature)}"


class DovecotOAuth(Dovecot):
    """A second Dovecot whose one passdb is ``oauth2`` with local JWT validation:
    OAUTHBEARER and XOAUTH2 (RFC 7628), tokens from ``mint_token``, no HTTP."""

    name = "dovecot-oauth"
    mechanisms = ("OAUTHBEARER", "XOAUTH2")

    def _passdb(self) -> str:
        # The key dict's path is <azp>/<alg>/<kid>, "default" for a missing claim;
        # the file holds the key in base64. The auth process reads it as "dovecot".
        keys = self.directory / "keys"
        key = keys / "default" / "HS256" / "default"
        key.parent.mkdir(parents=True)
        key.write_text(base64.b64encode(OAUTH_KEY).decode("ascii"), encoding="ascii")
        for path in (self.directory, keys, keys / "default", key.parent):
            path.chmod(0o755)
        key.chmod(0o644)
        settings = self.directory / "oauth2.conf.ext"
        settings.write_text(
            f"introspection_mode = local\n"
            f"local_validation_key_dict = fs:posix:prefix={keys}/\n"
            "username_attribute = sub\n",
            encoding="utf-8",
        )
        settings.chmod(0o644)
        return (
            f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {settings}\n}}"
        )


class Postfix(Server):
    """``postfix start-fg`` from a private config directory: smtpd on loopback, on
    ``smtp_port`` and, without CHUNKING (so messages go with DATA), on ``data_port``."""

    name = "postfix"

    def __init__(self, site: MailSite, dovecot: Dovecot) -> None:
        super().__init__(site)
        self.smtp_port, self.data_port = free_ports(2)
        self.config = self.directory / "conf"
        self.maillog = self.directory / "maillog"
        self._auth_port = dovecot.auth_port

    def start(self) -> None:
        directory, config = self.directory, self.config
        for sub in (config, directory / "queue", directory / "data"):
            sub.mkdir()
        os.chown(directory / "data", *_ids("postfix"))  # the master locks and caches there
        (config / "vmailbox").write_text(
            "".join(f"{box}@{DOMAIN} {box}/\n" for box in MAILBOXES), encoding="ascii"
        )
        mail_uid, mail_gid = _ids(MAIL_USER)
        (config / "main.cf").write_text(
            f"""\
compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
maillog_file = {self.maillog}
maillog_file_prefixes = {directory}
alias_maps =
alias_database =
local_transport = error:local delivery is off in this test MTA
default_transport = error:this test MTA delivers only to {DOMAIN}
relay_transport = error:this test MTA delivers only to {DOMAIN}
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {self.site.mail}
virtual_mailbox_maps = texthash:{config}/vmailbox
virtual_uid_maps = static:{mail_uid}
virtual_gid_maps = static:{mail_gid}
virtual_minimum_uid = 1
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:{HOST}:{self._auth_port}
smtpd_sasl_auth_enable = yes
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_cert_file = {self.site.tls.cert}
smtpd_tls_key_file = {self.site.tls.key}
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtputf8_enable = yes
""",
            encoding="utf-8",
        )
        # Postfix's stock services, none chrooted (there is no chroot tree here).
        (config / "master.cf").write_text(
            f"""\
{HOST}:{self.smtp_port} inet n - n - - smtpd
{HOST}:{self.data_port} inet n - n - - smtpd -o smtpd_discard_ehlo_keywords=chunking
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
""",
            encoding="ascii",
        )
        self._spawn([POSTFIX, "-c", str(config), "start-fg"])
        self._wait_for(self.smtp_port, b"220")

    def failure(self, what: str) -> MTAFailed:
        error = super().failure(what)
        if self.maillog.exists():
            error.args = (f"{error}\n--- {self.maillog} ---\n{self.maillog.read_text('utf-8')}",)
        return error

    def _polite_stop(self) -> None:
        # "postfix stop" signals the master and returns before it has exited;
        # stop() then waits for our child (the master's parent, postfix-script).
        subprocess.run(
            [POSTFIX, "-c", str(self.config), "stop"],
            capture_output=True,
            timeout=STOP_TIMEOUT,
            check=False,
        )


class PostfixOAuth(Postfix):
    """A second Postfix whose SMTP AUTH goes to ``DovecotOAuth``: bearer tokens over SMTP."""

    name = "postfix-oauth"
