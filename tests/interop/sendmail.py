"""The seed's own server, for real: Debian 12's Sendmail 8.17 with Cyrus SASL 2.1.28.

Rules of this module:
- Sendmail cannot be installed beside Postfix (one MTA package per system), so
  its Debian packages are fetched with ``apt-get download`` and unpacked with
  ``dpkg -x`` under ``CACHE`` (the repository's ``.cache/``, ignored by git),
  once per machine: the cache is reused while it holds the unpacked tree.
- Every instance owns one private directory: its ``.cf`` (made by m4 from the
  unpacked ``cf.m4``), queue, Cyrus ``Sendmail.conf``, sasldb and saslauthd
  socket. Nothing under /etc or /usr is written: what Cyrus and saslauthd read
  from fixed system paths is bind-mounted over them inside private mount
  namespaces (``unshare -m --propagation private``), seen by that one process
  alone (PEERS.md, "Sendmail").
- Sendmail runs in a private UTS namespace named ``REALM`` (an unqualified host
  name makes it sleep 60 s at start), listens on 127.0.0.1 on a free port,
  offers ``AUTH DIGEST-MD5 CRAM-MD5 LOGIN PLAIN`` without TLS (AuthOptions A)
  and keeps accepted mail in its queue (``-odq``): nothing is delivered.
- Two modes: ``saslauthd`` (the seed: ``pwcheck_method: saslauthd``, a private
  saslauthd over a private sasldb; PLAIN and LOGIN work, the shared-secret
  mechanisms cannot) and ``auxprop`` (``pwcheck_method: auxprop`` with a
  private sasldb: all four work).
- There is no syslog daemon: Sendmail gets a private ``/dev`` (a tmpfs with
  its own null, zero, full, random, urandom and tty nodes) whose ``log`` links
  to a datagram socket of ours, so ``Sendmail.log`` holds what Sendmail and
  Cyrus log (at the default LogLevel 9, reasons but no password).
- Processes are stopped by the pid recorded at start (our child, never reaped
  before it is signalled, so the id cannot have been reused), then their
  process group; never by name: sendmail rewrites its argv.
"""

from __future__ import annotations

import contextlib
import enum
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.interop.mta import HOST, MailSite, MTAFailed, Server, free_ports
from tests.interop.peers import ALICE

PACKAGES = ("sendmail-bin", "sendmail-base", "sendmail-cf", "m4")
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "sendmail"
REALM = "mail.example.org"
MECHANISMS = ("DIGEST-MD5", "CRAM-MD5", "LOGIN", "PLAIN")
APT_GET, DPKG, UNSHARE = "/usr/bin/apt-get", "/usr/bin/dpkg", "/usr/bin/unshare"
SASLAUTHD = "/usr/sbin/saslauthd"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
SASL_CONF_DIR = "/usr/lib/sasl2"  # where Cyrus finds Sendmail.conf (sendmail empties its env)
SYSTEM_SASLDB = "/etc/sasldb2"  # the only database saslauthd -a sasldb reads
START_TIMEOUT = 20.0
RELAY_TO = "bob@example.net"  # not local: accepted only after AUTH, then queued (-odq)


class Mode(enum.Enum):
    SASLAUTHD = "saslauthd"
    AUXPROP = "auxprop"


def unpacked() -> Path:
    """The unpacked packages' root, downloaded and unpacked on first use."""
    root, debs = CACHE / "root", CACHE / "debs"
    done = root / ".unpacked"
    if done.exists():
        return root
    debs.mkdir(parents=True, exist_ok=True)
    if len(list(debs.glob("*.deb"))) < len(PACKAGES):
        _run([APT_GET, "download", *PACKAGES], cwd=debs, what="apt-get download")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for deb in sorted(debs.glob("*.deb")):
        _run([DPKG, "-x", str(deb), str(root)], cwd=debs, what=f"dpkg -x {deb.name}")
    done.touch()
    return root


def _run(argv: list[str], *, cwd: Path, what: str) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MTAFailed(f"{what} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
           "tty": (5, 0)}  # fmt: skip
"""The character devices of a private /dev (Linux's devices.txt numbers)."""


def _in_namespace(
    hostname: str, mounts: dict[str, Path], argv: list[str], *, dev: tuple[Path, Path] | None = None
) -> list[str]:
    """``argv`` run (exec'd: same pid) in private mount and UTS namespaces with ``mounts``.

    ``dev`` (an empty directory, a log socket) gives it a private /dev logging to that socket.
    """
    script = [f"hostname {hostname}"]
    script += [f"mount --bind '{source}' '{target}'" for target, source in mounts.items()]
    if dev is not None:
        directory, log = dev
        script.append(f"mount -t tmpfs -o mode=0755 tmpfs '{directory}'")
        script += [f"mknod -m 666 '{directory}/{n}' c {a} {b}" for n, (a, b) in DEVICES.items()]
        script += [f"ln -s '{log}' '{directory}/log'", f"mount --bind '{directory}' /dev"]
    script.append('exec "$@"')
    return [UNSHARE, "-m", "-u", "--propagation", "private", "sh", "-ec", "; ".join(script),
            "sh", *argv]  # fmt: skip


def make_sasldb(path: Path, user: str, password: str) -> None:
    """A sasldb holding ``user`` in ``REALM`` (saslpasswd2 -p reads the password on stdin)."""
    subprocess.run(
        [SASLPASSWD2, "-p", "-f", str(path), "-u", REALM, "-c", user],
        input=password.encode("utf-8"),
        capture_output=True,
        check=True,
    )
    path.chmod(0o600)


class Saslauthd(Server):
    """``saslauthd -a sasldb`` over a private database, in a UTS namespace named ``REALM``.

    Sendmail passes an empty realm, so saslauthd looks the user up as
    ``user@HOSTNAME``: hence the namespace's host name.
    """

    def __init__(self, site: MailSite) -> None:
        self.name = "saslauthd"
        super().__init__(site)
        self.run_dir = self.directory / "run"
        self.run_dir.mkdir()
        self.socket = self.run_dir / "mux"
        self.sasldb = self.directory / "sasldb2"
        make_sasldb(self.sasldb, ALICE.user, ALICE.password)

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        argv = [SASLAUTHD, "-a", "sasldb", "-m", str(self.run_dir), "-n", "2", "-d"]
        self._spawn(_in_namespace(REALM, {SYSTEM_SASLDB: self.sasldb}, argv))
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket.exists():
            if self._exited():
                raise self.failure("exited while starting")
            if time.monotonic() > deadline:
                raise self.failure(f"no socket {self.socket} within {START_TIMEOUT} s")
            time.sleep(0.02)

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """saslauthd not running for the ``with`` block; started again after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


class Syslog:
    """A Unix datagram socket read by a thread: what the programs that log to it said."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        path.chmod(0o666)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):  # closed: the end
            while data := self._sock.recv(1 << 16):
                self._lines.append(data.decode("utf-8", "replace").rstrip("\n"))

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)


class Sendmail(Server):
    """``sendmail -bD -odq`` with Cyrus SASL as ``mode`` says (see the module rules)."""

    def __init__(self, site: MailSite, mode: Mode, saslauthd: Saslauthd | None = None) -> None:
        if (mode is Mode.SASLAUTHD) != (saslauthd is not None):
            raise ValueError("the saslauthd mode needs a Saslauthd, the auxprop mode none")
        self.name = f"sendmail-{mode.value}"
        super().__init__(site)
        self.mode = mode
        self.saslauthd = saslauthd
        (self.port,) = free_ports(1)
        self.queue = self.directory / "queue"
        self.sasl_conf = self.directory / "sasl2"
        self.cf = self.directory / "sendmail.cf"
        self.root = unpacked()
        self.binary = self.root / "usr/libexec/sendmail/sendmail"
        self.syslog: Syslog | None = None

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def _files(self) -> None:
        d = self.directory
        self.queue.mkdir(mode=0o700)
        self.sasl_conf.mkdir()
        (d / "aliases").write_text("", encoding="ascii")
        (d / "hosts").write_text(f"127.0.0.1 {REALM} localhost\n", encoding="ascii")
        (d / "service.switch").write_text("hosts files\naliases files\n", encoding="ascii")
        (d / "local-host-names").write_text(f"{REALM}\n", encoding="ascii")
        lines = [f"mech_list: {' '.join(MECHANISMS)}"]
        if self.saslauthd is not None:
            # sasldb_path names no file: else the shared-secret mechanisms read /etc/sasldb2.
            lines += [
                "pwcheck_method: saslauthd",
                f"saslauthd_path: {self.saslauthd.socket}",
                f"sasldb_path: {d / 'no-such-sasldb'}",
            ]
        else:
            sasldb = d / "sasldb2"
            make_sasldb(sasldb, ALICE.user, ALICE.password)
            lines += ["pwcheck_method: auxprop", "auxprop_plugin: sasldb", f"sasldb_path: {sasldb}"]
        (self.sasl_conf / "Sendmail.conf").write_text("\n".join(lines) + "\n", encoding="ascii")

    def _mc(self) -> str:
        d, mechanisms = self.directory, " ".join(MECHANISMS)
        defines = {
            "__OSTYPE__": "",  # instead of OSTYPE(linux), which pulls in procmail
            "confEBINDIR": "/usr/sbin",
            "confAUTH_MECHANISMS": mechanisms,
            "confAUTH_OPTIONS": "A",  # AUTH without TLS, as on the seed's server
            "confAUTH_REALM": REALM,
            "confDONT_BLAME_SENDMAIL": "GroupReadableSASLDBFile,TrustStickyBit",
            "QUEUE_DIR": str(self.queue),
            "STATUS_FILE": str(d / "statistics"),
            "confPID_FILE": str(d / "sendmail.pid"),
            "ALIAS_FILE": str(d / "aliases"),
            "confHOSTS_FILE": str(d / "hosts"),
            "confSERVICE_SWITCH_FILE": str(d / "service.switch"),
            "confCW_FILE": str(d / "local-host-names"),
        }
        lines = ["divert(0)dnl"]
        lines += [f"define(`{name}', `{value}')dnl" for name, value in defines.items()]
        lines += [
            f"TRUST_AUTH_MECH(`{mechanisms}')dnl",
            "FEATURE(`no_default_msa')dnl",
            "FEATURE(`accept_unresolvable_domains')dnl",
            f"DAEMON_OPTIONS(`Port={self.port}, Addr={HOST}, Name=MTA')dnl",
            "MAILER(`local')dnl",
            "MAILER(`smtp')dnl",
        ]
        return "\n".join(lines) + "\n"

    def _make_cf(self) -> None:
        cf_dir = self.root / "usr/share/sendmail/cf"
        mc = self.directory / "sendmail.mc"
        mc.write_text(self._mc(), encoding="ascii")
        with self.cf.open("wb") as out:
            done = subprocess.run(
                [
                    str(self.root / "usr/bin/m4"),
                    f"-D_CF_DIR_={cf_dir}/",
                    f"{cf_dir}/m4/cf.m4",
                    str(mc),
                ],
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
        if done.returncode != 0:
            raise MTAFailed(f"m4 failed for {mc}: {done.stderr.decode('utf-8', 'replace')}")

    def start(self) -> None:
        self._files()
        self._make_cf()
        argv = [str(self.binary), "-bD", "-odq", "-C", str(self.cf)]
        dev = self.directory / "dev"
        dev.mkdir()
        self.syslog = Syslog(self.directory / "syslog")
        mounts = {SASL_CONF_DIR: self.sasl_conf}
        self._spawn(_in_namespace(REALM, mounts, argv, dev=(dev, self.syslog.path)))
        self._wait_for(self.port, b"220 ")
        assert self._proc is not None
        exe = Path(f"/proc/{self._proc.pid}/exe").resolve()
        if exe != self.binary.resolve():
            raise self.failure(f"pid {self._proc.pid} is {exe}, not {self.binary}")

    def logged(self, text: str) -> list[str]:
        """The lines Sendmail and Cyrus logged so far that hold ``text``."""
        return [line for line in (self.syslog.lines if self.syslog else []) if text in line]

    def failure(self, what: str) -> MTAFailed:
        logged = "\n".join(self.syslog.lines if self.syslog else ["(nothing)"])
        return MTAFailed(f"{super().failure(what)}\n--- syslog ---\n{logged}")

    def stop(self) -> None:
        super().stop()
        if self.syslog is not None:
            self.syslog.close()
            self.syslog = None

    def queued(self, marker: str) -> list[bytes]:
        """Each queued message holding ``marker``: its ``qf`` file (envelope and headers)
        followed by its ``df`` file (the body)."""
        found = []
        for control in sorted(self.queue.glob("qf*")):
            body = self.queue / ("df" + control.name[2:])
            data = control.read_bytes() + (body.read_bytes() if body.exists() else b"")
            if marker.encode("utf-8") in data:
                found.append(data)
        return found


@contextlib.contextmanager
def running(site: MailSite, mode: Mode) -> Iterator[Sendmail]:
    """A started Sendmail of ``mode`` (with its saslauthd in that mode), stopped after."""
    with contextlib.ExitStack() as stack:
        saslauthd = None
        if mode is Mode.SASLAUTHD:
            saslauthd = stack.enter_context(Saslauthd(site))
            saslauthd.start()
        server = stack.enter_context(Sendmail(site, mode, saslauthd))
        server.start()
        yield server
