"""Storage of ``sasl-kit serve``: no accepted message is lost, a failure to store is a 451.

The server runs as a user runs it (a subprocess, STARTTLS, PLAIN). A failure
to store is made real: ``new/`` replaced by a file (the rename into it fails),
or a file size limit (RLIMIT_FSIZE) the spool runs into mid-message.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import require_programs
from tests.server.running import Serve

BODY = b"Subject: stored\r\n\r\nHello.\r\n"
# What a reply about a failure must never show (issue 12): exception names, paths, tracebacks.
LEAKS = ("Error: (", "Errno", "Traceback", "/", "OSError", "Exception")


def _send(server: Serve, body: bytes = BODY) -> str:
    with server.wire() as wire:
        wire.start()
        wire.login()
        return wire.mail(body + b".\r\n")


def _assert_generic_451(reply: str) -> None:
    assert reply.startswith("451 4.3.0 "), reply
    assert not any(leak in reply for leak in LEAKS), reply


def test_an_existing_empty_maildir_gets_its_subdirectories_and_the_mail(tmp_path: Path) -> None:
    maildir = tmp_path / "empty"
    maildir.mkdir()
    server = Serve(tmp_path / "run", maildir=maildir)
    try:
        reply = _send(server)
    finally:
        server.stop()
    assert reply.startswith("250 2.0.0 OK stored as "), reply
    key = reply.rsplit(" ", 1)[1]
    assert (maildir / "new" / key).read_bytes() == BODY
    envelope = json.loads((maildir / "envelopes" / f"{key}.json").read_text(encoding="utf-8"))
    assert (envelope["sender"], envelope["recipients"]) == (
        "alice@example.test",
        ["bob@example.test"],
    )
    assert sorted(p.name for p in maildir.iterdir()) == ["cur", "envelopes", "new", "tmp"]
    assert list((maildir / "tmp").iterdir()) == []


def test_missing_parents_of_the_maildir_are_made(tmp_path: Path) -> None:
    maildir = tmp_path / "a" / "b" / "mail"
    server = Serve(tmp_path / "run", maildir=maildir)
    try:
        assert _send(server).startswith("250 ")
        (message,) = server.messages()
    finally:
        server.stop()
    assert message.data == BODY


def test_a_maildir_that_cannot_be_made_is_one_line_on_stderr_not_a_traceback(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("not a directory\n", encoding="utf-8")
    (tmp_path / "users.txt").write_text("alice:wonderland\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "sasl_kit", "serve", "--listen", "127.0.0.1:0",
         "--users", str(tmp_path / "users.txt"), "--maildir", str(tmp_path / "file" / "mail")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().endswith("as a maildir: Not a directory"), run.stderr


def test_a_failed_delivery_is_a_generic_451_logged_with_details_and_the_server_goes_on(
    tmp_path: Path,
) -> None:
    server = Serve(tmp_path / "run")
    try:
        new = server.maildir / "new"
        shutil.rmtree(new)
        new.write_text("in the way\n", encoding="utf-8")  # the rename into new/ fails
        _assert_generic_451(_send(server))
        assert list((server.maildir / "tmp").iterdir()) == []  # the spool is gone
        assert list((server.maildir / "envelopes").iterdir()) == []
        assert "could not store a message: [Errno 20] Not a directory" in server.log_text()
        new.unlink()
        new.mkdir()
        assert _send(server).startswith("250 ")
        assert len(server.messages()) == 1
    finally:
        server.stop()


def _file_size_limit() -> None:
    """In the child: files stop at 1 MiB; a write past it fails (EFBIG) instead of a signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_write_failing_mid_message_is_a_451_after_the_data_and_the_session_stays_in_sync(
    tmp_path: Path,
) -> None:
    server = Serve(tmp_path / "run", preexec_fn=_file_size_limit)
    big = b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * 30_000  # 2.4 MB, over the limit
    try:
        with server.wire() as wire:
            wire.start()
            wire.login()
            _assert_generic_451(wire.mail(big + b".\r\n"))
            assert wire.command("NOOP").startswith("250 ")
            assert wire.mail(BODY + b".\r\n").startswith("250 ")
        assert [m.data for m in server.messages()] == [BODY]
        assert list((server.maildir / "tmp").iterdir()) == []
        assert "File too large" in server.log_text()
    finally:
        server.stop()


def test_the_final_250_comes_after_message_and_envelope_are_in_the_maildir(serve: Serve) -> None:
    body = b"Subject: order\r\n\r\nHello.\r\n"
    with serve.wire() as wire:
        wire.start()
        wire.login()
        reply = wire.mail(body + b".\r\n")
        key = reply.rsplit(" ", 1)[1]
        # Read before QUIT: the 250 alone must mean both files are there.
        assert (serve.maildir / "new" / key).read_bytes() == body
        assert (serve.maildir / "envelopes" / f"{key}.json").exists()


STRACE = "/usr/bin/strace"


@pytest.mark.interop
def test_the_250_is_sent_only_after_message_and_envelope_are_fsynced_into_place(
    tmp_path: Path,
) -> None:
    """The system calls, as strace sees them, in the order they returned."""
    require_programs(STRACE)
    trace = tmp_path / "trace.txt"
    calls = "trace=fsync,rename,renameat,renameat2,sendto"
    wrapper = [STRACE, "-f", "--seccomp-bpf", "-y", "-s", "200", "-o", str(trace), "-e", calls]
    # In the clear, so the reply is readable in the trace.
    server = Serve(tmp_path / "run", "--allow-plaintext-auth", wrapper=wrapper)
    try:
        with server.wire() as wire:
            wire.start(tls=False)
            wire.login()
            key = wire.mail(BODY + b".\r\n").rsplit(" ", 1)[1]
    finally:
        # strace detaches on SIGTERM: the signal goes to the server, and strace ends with it.
        tracer = server.process.pid
        children = Path(f"/proc/{tracer}/task/{tracer}/children").read_text().split()
        os.kill(int(children[0]), signal.SIGTERM)
        server.process.wait(30)
        server.stop()
    spooled, new, envelopes = (server.maildir / d for d in ("tmp", "new", "envelopes"))
    spool, message = re.escape(str(spooled / key)), re.escape(str(new / key))
    temporary = re.escape(str(envelopes / f"{key}.tmp"))
    envelope = re.escape(str(envelopes / f"{key}.json"))
    expected = [
        rf"fsync\(\d+<{spool}>\)",
        rf"fsync\(\d+<{temporary}>\)",
        rf'rename\("{spool}", "{message}"\)',
        rf"fsync\(\d+<{re.escape(str(new))}>\)",
        rf'rename\("{temporary}", "{envelope}"\)',
        rf"fsync\(\d+<{re.escape(str(envelopes))}>\)",
        rf'sendto\(.*"250 2\.0\.0 OK stored as {re.escape(key)}\\r\\n"',
    ]
    lines = [line for line in trace.read_text().splitlines() if key in line or "fsync(" in line]
    found = [next(i for i, line in enumerate(lines) if re.search(p, line)) for p in expected]
    assert found == sorted(found), "\n".join(lines)
