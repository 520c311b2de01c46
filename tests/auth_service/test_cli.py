"""``sasl-kit auth-server`` as a process: it listens, answers the handshake, stops on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_it_stops_cleanly_on_a_signal_sent_as_soon_as_it_says_it_listens(
    tmp_path: Path, signum: int
) -> None:
    users = tmp_path / "users"
    users.write_text("alice:wonderland\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "sasl_kit", "auth-server", "--listen", "127.0.0.1:0",
         "--users", str(users)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline().startswith("listening on 127.0.0.1:")
    process.send_signal(signum)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err


def test_it_listens_answers_and_stops_cleanly(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("alice:wonderland\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "sasl_kit", "auth-server", "--listen", "127.0.0.1:0",
         "--users", str(users), "--mechanism", "CRAM-MD5", "--mechanism", "PLAIN"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening on 127.0.0.1:") and "offering CRAM-MD5 PLAIN" in first
        port = int(first.split()[2].rstrip(";").rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"VERSION\t1\t2\nCPID\t1\n")
            data = b""
            while not data.endswith(b"DONE\n"):
                data += conn.recv(4096)
        assert b"MECH\tCRAM-MD5\tdictionary\tactive\nMECH\tPLAIN\tplaintext\n" in data
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nowhere"], "--listen takes unix:PATH or HOST:PORT"),
        (["--listen", "127.0.0.1:0", "--mechanism", "SCRAM-SHA-256-PLUS"], "cannot offer"),
        (["--listen", "127.0.0.1:0", "--auth-failure-delay", "-1"], "0 or more seconds"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    users = tmp_path / "users"
    users.write_text("alice:wonderland\n")
    run = subprocess.run(
        [sys.executable, "-m", "sasl_kit", "auth-server", "--users", str(users), *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
