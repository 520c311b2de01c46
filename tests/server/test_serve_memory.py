"""Memory of ``sasl-kit serve``: a 30 MB message raises its peak RSS by less than 64 MiB,
and other sessions are served while it arrives.

The server is a subprocess of its own, so its ``VmHWM`` (peak resident set,
/proc/PID/status) is its alone. Before the spool, aiosmtpd held such a
message about four times over (about 122 MB more, issue 12).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.server.running import Serve

LINE = b"y" * 78 + b"\r\n"
LINES = 30_000_000 // len(LINE)  # 30 MB of data
LIMIT_KIB = 64 * 1024


def test_a_30_mb_message_is_stored_whole_and_peak_rss_grows_less_than_64_mib(
    tmp_path: Path,
) -> None:
    server = Serve(tmp_path / "run")
    body = b"Subject: big\r\n\r\n" + LINE * LINES
    try:
        with server.wire() as wire:
            wire.start()
            wire.login()
            assert wire.mail(b"Subject: warm-up\r\n\r\nHello.\r\n.\r\n").startswith("250 ")
            before = server.status("VmHWM")
            reply = wire.mail(body + b".\r\n")
            after = server.status("VmHWM")
        assert reply.startswith("250 "), reply
        key = reply.rsplit(" ", 1)[1]
        stored = (server.maildir / "new" / key).read_bytes()
    finally:
        server.stop()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(body).digest()
    assert after - before < LIMIT_KIB, f"VmHWM {before} KiB -> {after} KiB"


def test_other_sessions_are_served_while_a_30_mb_message_arrives(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "run")
    half = LINE * (LINES // 2)
    try:
        _two_sessions(serve, half)
        subjects = [m.message["Subject"] for m in serve.messages()]
    finally:
        serve.stop()
    assert subjects == ["meanwhile", "big, in two halves"]


def _two_sessions(serve: Serve, half: bytes) -> None:
    """A big message in two halves, and a whole small session between them."""
    with serve.wire() as big:
        big.start()
        big.login()
        big.data()
        big.send(b"Subject: big, in two halves\r\n\r\n" + half)
        with serve.wire() as small:
            small.start()
            small.login()
            assert small.mail(b"Subject: meanwhile\r\n\r\nHello.\r\n.\r\n").startswith("250 ")
        big.send(half + b".\r\n")
        assert big.reply().startswith("250 ")
