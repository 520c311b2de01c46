"""Every line profile's parsers on garbage: arbitrary bytes, any split, truncated exchanges.

Only the project's errors (``SASLError``) may come out; a truncated exchange just waits.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit import SASLError
from sasl_kit.protocols import PROFILES, profile
from sasl_kit.registry import default_registry
from tests.protocols.exchange import after, wire

NAMES = sorted(set(PROFILES) & {"smtp", "imap", "pop3"})
MECHANISMS = ["PLAIN", "CRAM-MD5", "SCRAM-SHA-256", "DIGEST-MD5", "LOGIN"]
PIECES = st.lists(
    st.one_of(
        st.binary(max_size=80),
        st.sampled_from(
            [
                b"334 \r\n",
                b"+ \r\n",
                b"334 PDE+\r\n",
                b"+ cj1h\r\n",
                b"235 ok\r\n",
                b"A1 OK\r\n",
                b"A1 NO [UNAVAILABLE]\r\n",
                b"+OK\r\n",
                b"-ERR [AUTH]\r\n",
                b"535-a\r\n",
                b"* x\r\n",
                b"\r\n",
                b"\n",
                b"\xff\xfe\r\n",
                b"x" * 70000,
            ]
        ),
    ),
    max_size=12,
)


def _fed(auth: object, pieces: list[bytes]) -> None:
    for piece in pieces:
        if getattr(auth, "result", None) is not None:
            return
        auth.receive(piece)  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(MECHANISMS), PIECES)
def test_a_client_exchange_fed_garbage_raises_only_project_errors(
    name: str, mechanism: str, pieces: list[bytes]
) -> None:
    client = default_registry.client(mechanism, username="u", password="p", host="h")
    auth = profile(name).client(mechanism, client, tag="A1", sasl_ir=True)
    try:
        auth.start()
        _fed(auth, pieces)
    except SASLError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(MECHANISMS), PIECES)
def test_a_server_exchange_fed_garbage_raises_only_project_errors(
    name: str, mechanism: str, pieces: list[bytes]
) -> None:
    server = default_registry.server(mechanism, {"u": "p"}, host="h")
    auth = profile(name).server(mechanism, server)
    with contextlib.suppress(SASLError):
        _fed(
            auth,
            [
                f"A1 AUTHENTICATE {mechanism}\r\n".encode()
                if name == "imap"
                else f"AUTH {mechanism}\r\n".encode(),
                *pieces,
            ],
        )


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.binary(max_size=400), st.text(max_size=200))
def test_capability_replies_and_transcript_lines_never_raise(
    name: str, data: bytes, text: str
) -> None:
    found = profile(name)
    assert all(isinstance(m, str) for m in found.mechanisms(data))
    for side in ("C", "S", "x"):
        with contextlib.suppress(SASLError):
            found.read_line(side, text)


EXCHANGES = {
    "smtp": "rfc4954-plain-initial.txt",
    "imap": "rfc4959-plain-challenge.txt",
    "pop3": "rfc5034-plain-initial.txt",
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NAMES), st.data())
def test_an_rfc_exchange_in_any_split_or_truncated_ends_right_or_waits(
    name: str, data: st.DataObject
) -> None:
    password = "1234" if name == "smtp" else "test"  # RFC 4954 7 has another password
    client = default_registry.client("PLAIN", username="test", password=password, authzid="test")
    auth = profile(name).client("PLAIN", client, tag="A01", sasl_ir=False)
    auth.start()
    command = "A01" if name == "imap" else "AUTH"
    stream = b"".join(wire(t) for s, t in after(EXCHANGES[name], command)[1:] if s == "S")
    cut = data.draw(st.integers(0, len(stream)))
    splits = sorted(data.draw(st.lists(st.integers(0, cut), max_size=6)))
    for a, b in zip([0, *splits], [*splits, cut], strict=True):
        if auth.result is None:
            auth.receive(stream[a:b])
    assert (auth.result is not None) == (cut == len(stream))
    if auth.result is not None:
        assert auth.result.ok
