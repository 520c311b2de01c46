"""A private PostgreSQL 15 cluster on 127.0.0.1 for the interop tests (Debian 12's package).

Rules of this module (and those of ``mta``, whose ``Server`` it extends):
- One private directory holds the cluster, its socket directory, its
  certificate and its log; nothing under /etc or /var is read or written. The
  server listens on 127.0.0.1 on a free high port, its Unix socket only in the
  private directory.
- ``initdb`` refuses root: it and the server run as ``postgres`` through
  ``runuser -u postgres --``. The cluster is made with ``--auth=scram-sha-256``
  (pg_hba.conf: every ``host`` connection from 127.0.0.1, with or without TLS,
  authenticates with SCRAM) and its bootstrap superuser is ``ALICE`` with her
  password, stored as SCRAM-SHA-256 (``password_encryption``'s default).
- ``ssl = on`` with a self-signed certificate for 127.0.0.1 (``cafile``), so
  the same server answers SSLRequest with ``S`` and serves clients without TLS
  too; ``PostgreSQL(site, tls=False)`` is a cluster with ``ssl = off``, which
  answers SSLRequest with ``N``. Durability is off (``--no-sync``,
  ``fsync = off``): the cluster lives for one test session.
- Stopping is a fast shutdown (SIGINT to the postmaster), then ``mta``'s
  deadline and SIGKILL of the process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.interop.mta import (
    HOST,
    START_TIMEOUT,
    MailSite,
    Server,
    free_ports,
    make_certificate,
    private_directory,
)
from tests.interop.peers import ALICE

BIN = Path("/usr/lib/postgresql/15/bin")
INITDB = str(BIN / "initdb")
POSTGRES = str(BIN / "postgres")
RUNUSER = "/usr/sbin/runuser"
USER = "postgres"  # the operating-system user the server runs as
DATABASE = "postgres"  # the database initdb makes; ALICE logs in to it
READY = "database system is ready to accept connections"


def as_postgres(*argv: str) -> list[str]:
    return [RUNUSER, "-u", USER, "--", *argv]


class PostgreSQL(Server):
    """``postgres -D DATA`` as the ``postgres`` user: TCP on loopback, TLS on request."""

    name = "postgresql"

    def __init__(self, site: MailSite, *, tls: bool = True) -> None:
        super().__init__(site)
        self.tls = tls
        (self.port,) = free_ports(1)
        self.data = self.directory / "data"
        self.sockets = self.directory / "sockets"
        self.user, self.password = ALICE.user, ALICE.password

    @property
    def cafile(self) -> str:
        return self.site.cafile

    def start(self) -> None:
        self.sockets.mkdir()
        secret = self.directory / "password"
        secret.write_text(self.password + "\n", encoding="utf-8")
        for path in (self.directory, self.sockets, secret, self.site.tls.cert, self.site.tls.key):
            shutil.chown(path, USER, USER)
        self.site.tls.key.chmod(0o600)  # PostgreSQL refuses a key others can read
        initdb = subprocess.run(
            as_postgres(
                INITDB,
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=scram-sha-256",
                f"--pwfile={secret}",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT * 6,
            check=False,
        )
        secret.unlink()
        if initdb.returncode != 0:
            raise self.failure(f"initdb failed: {initdb.stdout}{initdb.stderr}")
        self._spawn(
            as_postgres(
                POSTGRES,
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.sockets),
                "-c",
                f"listen_addresses={HOST}",
                "-c",
                "fsync=off",
                *self._ssl_options(),
            )
        )
        self._wait_ready()

    def _ssl_options(self) -> list[str]:
        if not self.tls:
            return ["-c", "ssl=off"]
        cert, key = self.site.tls.cert, self.site.tls.key
        return ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while READY not in self.log.read_text("utf-8", "replace"):
            if self._exited():
                raise self.failure("exited while starting")
            if time.monotonic() > deadline:
                raise self.failure(f"not ready within {START_TIMEOUT} s")
            time.sleep(0.05)

    def _polite_stop(self) -> None:
        """A fast shutdown: SIGINT to the postmaster (the first line of postmaster.pid)."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGINT)

    @property
    def url(self) -> str:
        return f"postgresql://{HOST}:{self.port}/{DATABASE}"


@contextlib.contextmanager
def postgresql_site() -> Iterator[MailSite]:
    """A private directory with a certificate for 127.0.0.1 (``MailSite`` without mail)."""
    root = private_directory()
    try:
        yield MailSite(root, make_certificate(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
