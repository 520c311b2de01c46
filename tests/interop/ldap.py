"""A private OpenLDAP slapd 2.5 with Cyrus SASL on 127.0.0.1, for the LDAP interop tests.

Rules of this module:
- Everything the instance owns lives in one temporary directory: slapd.conf,
  the Cyrus application config, the sasldb, the certificate, pid and log. It
  has no database: the root DSE and SASL binds need none.
- Debian's slapd reads Cyrus's config for the ``slapd`` application only from
  ``/etc/ldap/sasl2`` (it ignores ``SASL_CONF_PATH``), so slapd runs in a
  private mount namespace (``unshare -m``) in which our directory is
  bind-mounted over that one; the system's stays untouched (PEERS.md).
- It listens on two free high loopback ports, ``ldap://`` (StartTLS offered)
  and ``ldaps://``, with a self-signed certificate for 127.0.0.1. Starting
  waits for the ports with a deadline; stopping is SIGTERM, a deadline, then
  SIGKILL to the process group (ours: slapd runs in a new session).
- The mechanisms are Cyrus's defaults (no ``mech_list``) and ``sasl-secprops
  none`` (slapd's default refuses PLAIN, LOGIN and ANONYMOUS without TLS).
  Cyrus's ANONYMOUS with a sasldb fails every login ("userPassword not found
  in sasldb") unless a user ``anonymous`` exists, so one does (its password is
  never asked).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sasl_kit.certificates import self_signed
from tests.interop.conftest import require_programs, require_root
from tests.interop.mta import free_ports
from tests.interop.peers import ALICE, ANNA, JURGEN, Account

SLAPD = "/usr/sbin/slapd"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
UNSHARE = "/usr/bin/unshare"
CYRUS_CONFIG = "/etc/ldap/sasl2"
HOST = "127.0.0.1"
REALM = "example.test"
# ASCII; a non-ASCII password; a non-ASCII user name too (ISO 8859-1 representable).
ACCOUNTS: tuple[Account, ...] = (ALICE, ANNA, JURGEN)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Slapd:
    """A running slapd: its ports, the certificate to trust, its directory."""

    port: int
    ldaps_port: int
    cafile: str
    root: Path

    def log(self) -> str:
        return (self.root / "slapd.log").read_text(errors="replace")


def _config(root: Path, tls: tuple[Path, Path] | None, cbinding: bool) -> Path:
    sasl2 = root / "sasl2"
    sasl2.mkdir()
    (sasl2 / "slapd.conf").write_text(
        f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {root / 'sasldb2'}\n"
    )
    for user, password in (*((a.user, a.password) for a in ACCOUNTS), ("anonymous", "unused")):
        subprocess.run(
            [SASLPASSWD2, "-f", str(root / "sasldb2"), "-c", "-p", "-u", REALM, user],
            input=password.encode(),
            check=True,
            capture_output=True,
        )
    conf = root / "slapd.conf"
    conf.write_text(
        "include /etc/ldap/schema/core.schema\n"
        f"pidfile {root / 'slapd.pid'}\n"
        f"argsfile {root / 'slapd.args'}\n"
        "sasl-auxprops sasldb\n"
        f"sasl-realm {REALM}\n"
        "sasl-host localhost\n"
        "sasl-secprops none\n"
        + (f"TLSCertificateFile {tls[0]}\nTLSCertificateKeyFile {tls[1]}\n" if tls else "")
        + ("sasl-cbinding tls-endpoint\n" if cbinding else "")
    )
    return conf


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def running_slapd(root: Path, *, tls: bool = True, cbinding: bool = False) -> Iterator[Slapd]:
    """``tls=False``: no certificate, so no StartTLS and no ``ldaps://`` listener;
    ``cbinding``: ``sasl-cbinding tls-endpoint``, so that -PLUS is offered over TLS."""
    cert, key = self_signed((HOST,)).write(root)
    conf = _config(root, (cert, key) if tls else None, cbinding)
    port, ldaps_port = free_ports(2)
    urls = f"ldap://{HOST}:{port}/" + (f" ldaps://{HOST}:{ldaps_port}/" if tls else "")
    script = f'mount --bind "$1" {CYRUS_CONFIG} && exec "$2" -f "$3" -h "$4" -d 0'
    with (root / "slapd.log").open("wb") as log:
        process = subprocess.Popen(
            [
                UNSHARE,
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
                str(root / "sasl2"),
                SLAPD,
                str(conf),
                urls,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Slapd(port, ldaps_port, str(cert), root)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (_listening(port) and (not tls or _listening(ldaps_port))):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not start:\n{server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _require_slapd() -> None:
    require_programs(SLAPD, SASLPASSWD2, UNSHARE)
    require_root("the private slapd needs root (a mount namespace over /etc/ldap/sasl2)")


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A private slapd (see the module rules), once per test session."""
    _require_slapd()
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture(scope="session")
def slapd_cbinding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A second private slapd with ``sasl-cbinding tls-endpoint`` (SCRAM-*-PLUS over TLS)."""
    _require_slapd()
    with running_slapd(tmp_path_factory.mktemp("slapd-cbinding"), cbinding=True) as server:
        yield server
