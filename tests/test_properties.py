"""Garbage in, project errors out: every registered mechanism, both sides.

Each parser in sasl-kit sits behind a mechanism's ``step``, so feeding arbitrary
bytes to every client and server step reaches all of them.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import SASLError
from sasl_kit.channel_binding import ChannelBinding
from sasl_kit.mechanisms.oauth import TokenTable

PASSWORD = "Sëcret-pässword-42"
USERS = {"alice": PASSWORD}
INFOS = list(sasl_kit.default_registry)
CLIENTS = [i.name for i in INFOS if i.client is not None]
SERVERS = [i.name for i in INFOS if i.server is not None]
# As if over TLS whose server offers -PLUS: those mechanisms need the binding, others ignore it.
BINDING = ChannelBinding("tls-exporter", bytes(range(32)))
messages = st.lists(st.one_of(st.none(), st.binary(max_size=300)), min_size=1, max_size=4)


def _client(name: str, password: str = PASSWORD) -> sasl_kit.ClientMechanism:
    return sasl_kit.client(
        name,
        username="alice",
        password=password,
        service="imap",
        host="mail.example.org",
        channel_binding=BINDING,
        server_offers_plus=True,
        token=base64.b64encode(password.encode()).decode(),
    )


def _server(name: str) -> sasl_kit.ServerMechanism:
    return sasl_kit.server(
        name,
        USERS,
        service="imap",
        host="mail.example.org",
        channel_binding=BINDING,
        validate_token=TokenTable({"alice": base64.b64encode(PASSWORD.encode()).decode()}),
        external_identity="alice",
    )


@pytest.mark.parametrize("name", CLIENTS)
@settings(max_examples=150, deadline=None)
@given(challenges=messages)
def test_client_steps_raise_only_project_errors(name: str, challenges: list[bytes | None]) -> None:
    mech = _client(name)
    for challenge in challenges:
        try:
            mech.step(challenge)
        except SASLError:
            return


@pytest.mark.parametrize("name", SERVERS)
@settings(max_examples=150, deadline=None)
@given(responses=messages)
def test_server_steps_raise_only_project_errors(name: str, responses: list[bytes | None]) -> None:
    mech = _server(name)
    for response in responses:
        try:
            mech.step(response)
        except SASLError:
            return
    assert mech.authcid in (None, "alice", "anonymous")


def _secret_forms() -> list[str]:
    raw = PASSWORD.encode()
    return [PASSWORD, raw.hex(), base64.b64encode(raw).decode(), PASSWORD.encode("latin-1").hex()]


@pytest.mark.parametrize("name", sorted(set(CLIENTS) & set(SERVERS)))
def test_secrets_never_show_in_reprs_or_errors(name: str) -> None:
    texts: list[str] = []
    cli, srv = _client(name), _server(name)
    texts += [repr(cli), repr(srv), repr(cli.options), repr(srv.options)]
    # A client whose password is wrong, against a server that knows the right one.
    wrong = _client(name, password=PASSWORD + "x")
    server = _server(name)
    outgoing: bytes | None = wrong.step(b"") if wrong.client_first else None
    try:
        for _ in range(5):
            incoming = server.step(outgoing)
            outgoing = wrong.step(incoming or b"")
    except SASLError as exc:
        texts.append(str(exc))
    for bad in (b"\0alice\0" + PASSWORD.encode(), PASSWORD.encode() + b"\xff"):
        try:
            _server(name).step(bad)
            _server(name).step(None)
        except SASLError as exc:
            texts.append(str(exc))
    assert len(texts) > 4
    for text in texts:
        for form in _secret_forms():
            assert form not in text
