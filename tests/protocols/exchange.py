"""Literal exchanges of ``tests/protocols/exchanges/`` (RFC examples, in their C:/S: notation)."""

from __future__ import annotations

from pathlib import Path

from sasl_kit.protocols.base import ClientAuth

EXCHANGES = Path(__file__).resolve().parent / "exchanges"


def lines(name: str) -> list[tuple[str, str]]:
    """(side, text) of each ``C:``/``S:`` line, as the RFC writes it (trailing space kept)."""
    out = []
    for raw in (EXCHANGES / name).read_text(encoding="utf-8").splitlines():
        if raw[:3] in ("C: ", "S: "):
            out.append((raw[0], raw[3:]))
        elif raw[:2] in ("C:", "S:"):
            out.append((raw[0], ""))
    return out


def text(name: str) -> str:
    return (EXCHANGES / name).read_text(encoding="utf-8")


def wire(text: str) -> bytes:
    return text.encode("utf-8") + b"\r\n"


def after(name: str, command: str) -> list[tuple[str, str]]:
    """The lines from the client's ``command`` line on."""
    found = lines(name)
    start = next(i for i, (side, t) in enumerate(found) if side == "C" and t.startswith(command))
    return found[start:]


def replay_client(auth: ClientAuth, exchange: list[tuple[str, str]]) -> None:
    """Feed an RFC exchange's server lines to ``auth``: what it writes after each
    must be the client lines that follow it there."""
    assert auth.start() == wire(exchange[0][1])
    for i, (side, text) in enumerate(exchange[1:], 1):
        if side == "S":
            answer = b""
            for next_side, next_text in exchange[i + 1 :]:
                if next_side != "C":
                    break
                answer += wire(next_text)
            assert auth.receive(wire(text)) == answer, text
