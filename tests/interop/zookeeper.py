"""A private ZooKeeper 3.8 on 127.0.0.1 that requires SASL (DIGEST-MD5) from every client.

Rules of this file: the server runs from a fresh temporary directory (config,
JAAS file, data, logs) on a free high port, in its own process group, and is
killed with it; nothing of the system's ZooKeeper (``/etc/zookeeper``, its
service) is read or started. Facts used: ../shared/PEERS.md, "ZooKeeper 3.8".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.interop.mta import HOST, free_ports

JAVA = "/usr/bin/java"
JARS = (
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-simple.jar",
)  # no logs without slf4j
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
USER, PASSWORD = "alice", "wonderland"
START_TIMEOUT = 60.0

_CONFIG = """\
tickTime=2000
dataDir={data}
clientPort={port}
clientPortAddress={host}
admin.enableServer=false
4lw.commands.whitelist=ruok
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
sessionRequireClientSASLAuth=true
enforce.auth.enabled=true
enforce.auth.schemes=sasl
"""
_JAAS = """\
Server {{
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_{user}="{password}";
}};
"""


@dataclass(frozen=True)
class ZooKeeper:
    """A running server: where it listens and its one SASL user."""

    port: int
    directory: Path

    @property
    def hosts(self) -> str:
        return f"{HOST}:{self.port}"

    def log(self) -> str:
        return (self.directory / "server.log").read_text(errors="replace")


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as conn:
            conn.sendall(b"ruok")
            return conn.recv(16) == b"imok"
    except OSError:
        return False


@contextlib.contextmanager
def zookeeper() -> Iterator[ZooKeeper]:
    """Start the server, yield it once ``ruok`` answers ``imok``, kill it afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="sasl-kit-zk-"))
    (port,) = free_ports(1)
    (directory / "data").mkdir()
    (directory / "zoo.cfg").write_text(
        _CONFIG.format(data=directory / "data", port=port, host=HOST)
    )
    (directory / "jaas.conf").write_text(_JAAS.format(user=USER, password=PASSWORD))
    argv = [
        JAVA,
        "-Xmx256m",
        f"-Djava.security.auth.login.config={directory / 'jaas.conf'}",
        f"-Dzookeeper.log.dir={directory}",
        "-cp",
        ":".join(JARS),
        MAIN,
        str(directory / "zoo.cfg"),
    ]
    with (directory / "server.log").open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=directory, start_new_session=True
        )
    server = ZooKeeper(port, directory)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _ruok(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"ZooKeeper did not start on port {port}:\n{server.log()[-2000:]}"
                )
            time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
