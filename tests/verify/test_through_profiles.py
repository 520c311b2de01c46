"""verify reads every protocol of PROFILES through its profile's read_line, one added later too."""

from __future__ import annotations

import pytest

from sasl_kit import verify
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols import PROFILES
from sasl_kit.protocols.base import (
    Challenge,
    ClientAuth,
    End,
    Event,
    Outcome,
    Profile,
    Response,
    Start,
)
from tests.protocols.exchange import text


class ToyProfile(Profile):
    """A made-up protocol whose lines no other profile reads: BIND, CHAL, DONE/FAIL."""

    name = "toy"
    service = "toy"

    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        return ()

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> ClientAuth:
        raise NotImplementedError

    def read_line(self, side: str, text: str) -> Event | None:
        words = text.split()
        if side == "C":
            if words[:1] == ["BIND"] and len(words) in (2, 3):
                return Start(words[1], words[2] if len(words) == 3 else None)
            return Response(text)
        if words[:1] == ["CHAL"]:
            return Challenge(" ".join(words[1:]))
        if words[:1] in (["DONE"], ["FAIL"]):
            return End(Outcome.SUCCESS if words[0] == "DONE" else Outcome.REJECTED, text)
        return None


PROFILE = ToyProfile()


def test_a_protocol_registered_later_is_read_without_a_change_to_verify(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(PROFILES, "toy", __name__)
    transcript = "S: HELLO toy\nC: BIND CRAM-MD5\nS: CHAL PDE+\nC: dGlt\nS: FAIL no\n"
    (exchange,) = verify.read(transcript)
    assert (exchange.protocol, exchange.mechanism, exchange.outcome.success) == (
        "toy",
        "CRAM-MD5",
        False,
    )
    assert [m.data() for m in exchange.messages] == [b"<1>", b"tim"]


def test_rfc_4954_section_7_reads_as_smtp_with_its_folded_challenge() -> None:
    refused, cram = verify.read(text("rfc4954-cram-md5.txt"))
    assert refused.outcome.reply.startswith("504") and not refused.outcome.success
    assert cram.protocol == "smtp" and cram.outcome.success
    assert cram.messages[0].data().endswith(b"@elwood.innosoft.com>")


@pytest.mark.parametrize(
    ("name", "protocol"),
    [("rfc4959-plain-challenge.txt", "imap"), ("rfc5034-plain-initial.txt", "pop3")],
)
def test_rfc_examples_of_imap_and_pop3_read_as_their_protocol(name: str, protocol: str) -> None:
    (exchange,) = verify.read(text(name))
    assert (exchange.protocol, exchange.mechanism, exchange.outcome.success) == (
        protocol,
        "PLAIN",
        True,
    )
    assert exchange.steps[-1].data() == b"test\0test\0test"
