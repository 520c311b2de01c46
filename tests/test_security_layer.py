"""The RFC 4422 3.7 framer over DIGEST-MD5's layers: round trips, splits, tampering, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit import MalformedMessage, UsageError
from sasl_kit.mechanisms.digest_layer import CIPHERS, DigestLayer
from sasl_kit.security_layer import LENGTH_OCTETS, Framer, SecurityLayer

H_A1 = bytes(range(16))
MAXBUF = 4096
LAYERS = [None, *CIPHERS]  # None: auth-int


def _pair(cipher: str | None, maxbuf: int = MAXBUF) -> tuple[Framer, Framer]:
    """A client's and a server's framer over the same session key."""
    qop = "auth-int" if cipher is None else "auth-conf"

    def side(name: str) -> Framer:
        return Framer(
            DigestLayer(H_A1, side=name, qop=qop, cipher=cipher, maxbuf=maxbuf, peer_maxbuf=maxbuf)
        )

    return side("client"), side("server")


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def test_a_digest_layer_is_a_security_layer() -> None:
    client, _ = _pair("rc4")
    assert isinstance(client.layer, SecurityLayer)


@pytest.mark.parametrize("cipher", LAYERS)
@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=9000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0), max_size=12),
)
def test_what_one_side_wraps_the_other_unwraps_however_the_stream_is_split(
    cipher: str | None, messages: list[bytes], cuts: list[int]
) -> None:
    client, server = _pair(cipher)
    for sender, receiver in ((client, server), (server, client)):
        stream = b"".join(sender.wrap(m) for m in messages)
        received = [m for piece in _split(stream, cuts) for m in receiver.feed(piece)]
        # Framer.wrap cuts messages longer than the peer's buffer; the bytes arrive in order.
        assert b"".join(received) == b"".join(messages)
        assert receiver.pending == 0


@pytest.mark.parametrize("cipher", LAYERS)
@settings(max_examples=60, deadline=None)
@given(message=st.binary(max_size=200), bit=st.integers(min_value=0), earlier=st.booleans())
def test_any_flipped_bit_of_a_wrapped_message_is_refused(
    cipher: str | None, message: bytes, bit: int, earlier: bool
) -> None:
    client, server = _pair(cipher)
    if earlier:  # the stream and the sequence numbers have moved on
        server.feed(client.wrap(b"first"))
    wrapped = client.layer.wrap(message)
    position = bit % (len(wrapped) * 8)
    tampered = bytearray(wrapped)
    tampered[position // 8] ^= 1 << (position % 8)
    with pytest.raises(MalformedMessage, match=r"security layer|peer's message"):
        server.feed(len(tampered).to_bytes(LENGTH_OCTETS, "big") + tampered)


@pytest.mark.parametrize("cipher", LAYERS)
@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=200), bit=st.integers(min_value=0, max_value=31))
def test_a_flipped_bit_in_the_length_never_delivers_a_message(
    cipher: str | None, message: bytes, bit: int
) -> None:
    client, server = _pair(cipher)
    frame = bytearray(client.wrap(message))
    frame[bit // 8] ^= 1 << (7 - bit % 8)
    try:
        delivered = server.feed(bytes(frame))
    except MalformedMessage:
        return
    assert delivered == [] and server.pending == len(frame)  # still waiting for the rest


def test_a_frame_longer_than_maxbuf_is_refused_from_its_header() -> None:
    _, server = _pair("rc4", maxbuf=1024)
    with pytest.raises(MalformedMessage, match="frame is 1025 octets, more than the 1024"):
        server.feed((1025).to_bytes(4, "big"))


def test_after_a_refused_frame_the_framer_refuses_everything() -> None:
    client, server = _pair("des")
    frame = bytearray(client.wrap(b"hello"))
    frame[-1] ^= 1
    with pytest.raises(MalformedMessage, match="sequence number"):
        server.feed(bytes(frame))
    with pytest.raises(UsageError, match="close the connection"):
        server.feed(client.wrap(b"again"))


def test_long_data_is_cut_to_the_peers_buffer() -> None:
    client, _ = _pair("3des", maxbuf=64)
    stream = client.wrap(b"x" * 200)
    sizes = []
    while stream:
        size = int.from_bytes(stream[:4], "big")
        sizes.append(size)
        stream = stream[4 + size :]
    assert max(sizes) <= 64 and len(sizes) == 5  # 45 octets of data fit in a 64-octet frame


def test_an_empty_message_still_makes_a_frame() -> None:
    client, server = _pair(None)
    assert server.feed(client.wrap(b"")) == [b""]


@pytest.mark.parametrize("cipher", LAYERS)
@settings(max_examples=80, deadline=None)
@given(garbage=st.binary(max_size=120))
def test_garbage_from_the_peer_raises_only_malformed_message(
    cipher: str | None, garbage: bytes
) -> None:
    _, server = _pair(cipher)
    try:
        server.layer.unwrap(garbage)
    except MalformedMessage:
        return
    pytest.fail("garbage unwrapped")  # an 80-bit MAC does not verify by chance
