"""RFC 6120's examples, read from ``rfc6120/*.txt`` (one element per ``C:``/``S:`` line)."""

from __future__ import annotations

from pathlib import Path

from sasl_kit.protocols.xmpp import XMPPClientAuth
from sasl_kit.registry import default_registry

EXAMPLES = Path(__file__).parent / "rfc6120"
# RFC 6120 section 9.2: who authenticates, with what, and the client nonce it used.
JULIET = {"username": "juliet", "password": "r0m30myr0m30", "service": "xmpp"}
JULIET_CNONCE = "oMsTAAwAAAAMAAAANP0TAAAAAABPU0AA"


def example(name: str) -> list[tuple[str, str]]:
    """An example file as (side, element text) per line; ``#`` lines are comments."""
    lines = []
    for raw in (EXAMPLES / name).read_text("utf-8").splitlines():
        if raw.strip() and not raw.startswith("#"):
            side, _, text = raw.partition(": ")
            lines.append((side, text))
    return lines


def server_bytes(lines: list[tuple[str, str]]) -> bytes:
    return "".join(text for side, text in lines if side == "S").encode()


def juliet(**options: object) -> XMPPClientAuth:
    """The RFC 6120 9.2 SCRAM-SHA-1 exchange's client, its nonce fixed as there."""
    mechanism = default_registry.client(
        "SCRAM-SHA-1", cnonce=JULIET_CNONCE, **{**JULIET, **options}
    )
    return XMPPClientAuth("SCRAM-SHA-1", mechanism)


def scram_exchange() -> tuple[list[tuple[str, str]], bytes]:
    """The SASL lines of the SCRAM example (features left out) and the server's bytes."""
    lines = example("scram-sha-1.txt")[1:]
    return lines, server_bytes(lines)
