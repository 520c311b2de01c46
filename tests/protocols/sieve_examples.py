"""RFC 5804 section 2.1's examples, read from ``rfc5804/*.txt`` as the RFC prints
them, and a scripted mechanism that replays their SASL payloads."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from sasl_kit.errors import MalformedMessage
from sasl_kit.mechanisms.base import ClientMechanism, ClientOptions
from sasl_kit.protocols.base import ClientAuth
from sasl_kit.protocols.sieve import read_wire_line

EXAMPLES = Path(__file__).parent / "rfc5804"


def example(name: str) -> list[tuple[str, bytes]]:
    """An RFC example as (side, wire octets) per printed line, folds joined, CRLF added;
    ``<...>`` notes become ("", note)."""
    lines: list[tuple[str, str]] = []
    for raw in (EXAMPLES / name).read_text("utf-8").splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        if raw.startswith("<"):
            lines.append(("", raw))
        elif raw[:1].isspace():
            side, text = lines[-1]
            lines[-1] = (side, text + raw.strip())
        else:
            side, _, text = raw.partition(": ")
            lines.append((side.rstrip(":"), text if raw[2:3] == " " else ""))
    return [(side, text.encode() + (b"\r\n" if side else b"")) for side, text in lines]


def server_bytes(lines: Sequence[tuple[str, bytes]]) -> bytes:
    return b"".join(data for side, data in lines if side == "S")


def client_words(data: bytes) -> list[tuple[tuple[str, bytes], ...]]:
    """The client's lines as words (command atoms upper case), however they were framed."""
    found = []
    while data:
        parsed = read_wire_line(data, client=True)
        assert parsed is not None, data
        words, end = parsed
        found.append(
            tuple((w.kind, w.value.upper() if w.kind == "atom" else w.value) for w in words)
        )
        data = data[end:]
    return found


class Scripted(ClientMechanism):
    """Replays a list of (expected input, output) steps; complete after the last one."""

    name: ClassVar[str] = "DIGEST-MD5"
    script: ClassVar[tuple[tuple[bytes, bytes | None], ...]] = ()

    def __init__(self) -> None:
        super().__init__(ClientOptions())
        self._steps = list(self.script)

    def _step(self, data: bytes | None) -> bytes | None:
        expected, output = self._steps.pop(0)
        if data != expected:
            raise MalformedMessage(f"scripted: got {data!r}, expected {expected!r}")
        if not self._steps:
            self._finish()
        return output


def scripted(steps: Sequence[tuple[bytes, bytes | None]], *, first: bool = False) -> Scripted:
    cls = type("Script", (Scripted,), {"script": tuple(steps), "client_first": first})
    mechanism: Scripted = cls()
    return mechanism


def rfc_digest_script() -> list[tuple[bytes, bytes | None]]:
    """The payloads of the RFC's DIGEST-MD5 examples, from the quoted one."""
    lines = example("digest-md5-quoted.txt")
    payloads = [
        base64.b64decode(data.strip().strip(b'"'))
        for side, data in lines[7:9]  # the challenge and the response, quoted
    ]
    rspauth = base64.b64decode(lines[9][1].split(b'"')[1])
    return [(payloads[0], payloads[1]), (rspauth, None)]


def run_exchange(auth: ClientAuth, server: bytes, *, split: int = 0) -> bytes:
    """Start, then feed ``server`` in pieces of ``split`` octets (all at once for 0)."""
    out = auth.start()
    size = split or len(server) or 1
    for i in range(0, len(server), size):
        if auth.result is not None:
            break
        out += auth.receive(server[i : i + size])
    return out
