"""Memory of ``sasl-kit serve``: a 30 MB message raises its peak RSS by less than 64 MiB.

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
