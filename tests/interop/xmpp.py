"""A private Prosody 0.12 on 127.0.0.1 for the XMPP interop tests (Debian 12's package).

Rules of this module:
- Everything the instance owns lives in one directory made here, owned by the
  ``prosody`` user (Prosody refuses to run as root, mod_posix): its
  configuration (``prosody --config FILE``), data, certificate and log.
  Nothing under /etc/prosody or /var/lib/prosody is read or written.
- One c2s listener on 127.0.0.1 on a free high port; no s2s, no HTTP, no
  direct-TLS ports. ``c2s_require_encryption = true``: no mechanisms before
  STARTTLS. Accounts are stored hashed (``internal_hashed``), which gives
  PLAIN, SCRAM-SHA-1 and, on TLS 1.2, SCRAM-SHA-1-PLUS (tls-unique).
- Two virtual hosts, ``DOMAIN`` and the address ``HOST`` itself, each with the
  accounts ``ACCOUNTS``. The certificate is self-signed for both; ``cafile`` is
  the certificate itself.
- Started once per test session, stopped with a deadline (``Server.stop``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sasl_kit.certificates import self_signed
from tests.interop.mta import HOST, Server, free_ports, private_directory
from tests.interop.peers import ALICE, ANNA, Account

PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"
USER = "prosody"
DOMAIN = "example.test"
# The second domain is the address itself, for clients that name no domain (the
# driver's default is the host, and sasl-kit probe names none).
DOMAINS = (DOMAIN, HOST)
ACCOUNTS: tuple[Account, ...] = (ALICE, ANNA)

CONFIG = """\
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
interfaces = {{ "{host}" }}
c2s_interfaces = {{ "{host}" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
modules_enabled = {{ "saslauth", "tls" }}
modules_disabled = {{ "s2s" }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
allow_registration = false
log = {{ debug = "{dir}/prosody.log" }}
VirtualHost "{domain}"
  ssl = {{ certificate = "{dir}/cert.pem", key = "{dir}/key.pem" }}
VirtualHost "{host}"
  ssl = {{ certificate = "{dir}/cert.pem", key = "{dir}/key.pem" }}
"""


class Prosody(Server):
    """``prosody --config FILE -F`` as the ``prosody`` user, c2s on loopback."""

    name = "prosody"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.directory = root
        self.log = root / "prosody.log"  # Prosody's own (``log`` in the config)
        self._proc = None
        (self.port,) = free_ports(1)
        self.config = root / "prosody.cfg.lua"
        self.cert, self.key = self_signed(DOMAINS).write(root)
        (root / "data").mkdir()
        (root / "certs").mkdir()
        self.config.write_text(
            CONFIG.format(dir=root, host=HOST, port=self.port, domain=DOMAIN), "utf-8"
        )
        entry = pwd.getpwnam(USER)
        for path in (root, *root.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    @property
    def cafile(self) -> str:
        return str(self.cert)

    def register(self, account: Account, domain: str) -> None:
        subprocess.run(
            [
                PROSODYCTL,
                "--config",
                str(self.config),
                "register",
                account.user,
                domain,
                account.password,
            ],
            check=True,
            capture_output=True,
            user=USER,
            group=USER,
            extra_groups=[],
            timeout=30,
        )

    def start(self) -> None:
        for account in ACCOUNTS:
            for domain in DOMAINS:
                self.register(account, domain)
        with (self.root / "out.log").open("ab") as out:
            self._proc = subprocess.Popen(
                [PROSODY, "--config", str(self.config), "-F"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=USER,
                group=USER,
                extra_groups=[],
                env={"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C.UTF-8"},
            )
        self._wait_for(self.port, b"")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def prosody() -> Iterator[Prosody]:
    """A started ``Prosody`` in a fresh private directory; stopped and removed afterwards."""
    with Prosody(private_directory()) as server:
        server.start()
        yield server
