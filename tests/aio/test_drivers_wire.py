"""The asyncio drivers put the very bytes of the socket drivers on the wire.

Both run the same ``LineDialogue`` and the same profile exchange; these tests
hold them to it against a scripted IMAP/POP3 server on loopback
(``tests.aio.fakes``): for the same exchange (deterministic mechanisms, the
server's fixed challenges), each connection's lines are compared byte for byte,
and so are the sessions' findings (with STARTTLS, implicit TLS or none; the
``tls-server-end-point`` binding of RFC 5929 4.1) and the exchange's result.
A server that sends garbage, a line over the limit or closes early gets the
same project error from both, never another exception.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit import PolicyRefused, SASLError, UsageError, default_registry, drivers
from sasl_kit.certificates import self_signed
from sasl_kit.drivers import aio
from sasl_kit.drivers.base import Session, SessionSettings, StartTLSUnavailable
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols import TLSMode
from sasl_kit.protocols.base import ClientAuth, Result
from sasl_kit.protocols.errors import CredentialsRejected
from tests.aio.fakes import CHALLENGES, FakeLineServer, Script

HOST = "127.0.0.1"
CERTIFICATE = self_signed([HOST])
CLIENT_TLS = ssl.create_default_context(cadata=CERTIFICATE.cert_pem.decode("ascii"))
Seen = tuple[
    tuple[str, ...], tuple[str, ...] | None, bool, ChannelBinding | None, tuple[str, str, str]
]


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLineServer]:
    directory: Path = tmp_path_factory.mktemp("fake-tls")
    with FakeLineServer(CERTIFICATE.server_context(directory)) as server:
        yield server


def _settings(fake: FakeLineServer) -> SessionSettings:
    tls: TLSMode = fake.script.tls
    return SessionSettings(HOST, fake.port, tls, CLIENT_TLS, timeout=5)


def _auth(session: Session | aio.AsyncSession, name: str, user: str, password: str) -> ClientAuth:
    mechanism = default_registry.client(
        name, username=user, password=password, service=session.profile.service, host=HOST
    )
    return session.profile.client(name, mechanism)


def _seen(session: Session | aio.AsyncSession, result: Result) -> Seen:
    return (
        session.mechanisms,
        session.mechanisms_before_tls,
        session.encrypted,
        session.channel_binding("tls-server-end-point"),
        (result.outcome.value, result.code, result.text),
    )


def sync_exchange(fake: FakeLineServer, protocol: str, name: str, user: str, pw: str) -> Seen:
    session = drivers.open_session(protocol, _settings(fake))
    try:
        return _seen(session, session.authenticate(_auth(session, name, user, pw)))
    finally:
        session.close()


async def async_exchange(
    fake: FakeLineServer, protocol: str, name: str, user: str, pw: str
) -> Seen:
    async with await aio.open_session(protocol, _settings(fake)) as session:
        return _seen(session, await session.authenticate(_auth(session, name, user, pw)))


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)


@given(
    protocol=st.sampled_from(["imap", "pop3"]),
    name=st.sampled_from(sorted(CHALLENGES)),
    user=TEXT,
    password=TEXT,
    sasl_ir=st.booleans(),
    accept=st.booleans(),
    tls=st.sampled_from(["none", "starttls", "implicit"]),
)
@settings(max_examples=60, deadline=None)
def test_async_and_sync_drivers_send_the_same_bytes(
    fake: FakeLineServer,
    protocol: str,
    name: str,
    user: str,
    password: str,
    sasl_ir: bool,
    accept: bool,
    tls: TLSMode,
) -> None:
    fake.script = Script(protocol, sasl_ir=sasl_ir, tls=tls, accept=accept)
    fake.take()
    seen_sync = sync_exchange(fake, protocol, name, user, password)
    (sent_sync,) = fake.take()
    seen_async = asyncio.run(async_exchange(fake, protocol, name, user, password))
    (sent_async,) = fake.take()
    assert sent_async == sent_sync
    assert seen_async == seen_sync
    assert seen_sync[2] == (seen_sync[3] is not None) == (tls != "none")
    started = any(f" {name}".encode() in line for line in sent_sync)
    assert started or seen_sync[3][0] == "cancelled"  # SASLprep may refuse the drawn text


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_both_drivers_refuse_starttls_that_is_not_offered(
    fake: FakeLineServer, protocol: str
) -> None:
    fake.script = Script(protocol, tls="none")
    fake.take()
    settings = SessionSettings(HOST, fake.port, "starttls", timeout=5)
    with pytest.raises(StartTLSUnavailable) as sync_error:
        drivers.open_session(protocol, settings)
    with pytest.raises(StartTLSUnavailable) as async_error:
        asyncio.run(aio.open_session(protocol, settings))
    assert str(async_error.value) == str(sync_error.value)
    sent = fake.take()
    assert sent[0] == sent[1]


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_login_raises_credentials_rejected_when_the_server_says_no(
    fake: FakeLineServer, protocol: str
) -> None:
    fake.script = Script(protocol, accept=False)

    async def go() -> None:
        async with await aio.open_session(protocol, _settings(fake)) as session:
            await aio.login(session, "alice", "wrong", mechanisms=["CRAM-MD5"])

    with pytest.raises(
        CredentialsRejected, match="rejected the credentials of AUTHENTICATE CRAM-MD5"
    ):
        asyncio.run(go())


def test_login_keeps_plaintext_mechanisms_off_a_connection_in_the_clear(
    fake: FakeLineServer,
) -> None:
    fake.script = Script("imap")
    fake.take()

    async def go() -> str:
        async with await aio.open_session("imap", _settings(fake)) as session:
            return await aio.login(session, "alice", "secret", mechanisms=["PLAIN", "LOGIN"])

    with pytest.raises(PolicyRefused, match="in the clear"):
        asyncio.run(go())
    assert [line for line in fake.take()[0] if b"AUTHENTICATE" in line] == []


def test_login_takes_service_and_host_options_over_the_protocols_as_every_login_does(
    fake: FakeLineServer,
) -> None:
    """The options give way as in the SMTP session and the bridges (sasl_kit.login_plan);
    before the shared plan, this login raised TypeError for a ``host`` or ``service``."""
    fake.script = Script("imap")

    async def go() -> str:
        async with await aio.open_session("imap", _settings(fake)) as session:
            return await aio.login(
                session, "alice", "secret", mechanisms=["CRAM-MD5"], service="x", host="mx"
            )

    assert asyncio.run(go()) == "CRAM-MD5"


def test_open_session_names_the_protocols_it_drives(fake: FakeLineServer) -> None:
    with pytest.raises(UsageError, match="imap, pop3"):
        asyncio.run(aio.open_session("smtp", _settings(fake)))


@given(
    protocol=st.sampled_from(["imap", "pop3"]),
    raw=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.sampled_from([b"* OK hi", b"+OK hi", b"* CAPABILITY AUTH=PLAIN", b"+ ", b"."])
            | st.binary(max_size=40),
            max_size=8,
        ).map(b"\r\n".join),
        st.just(b"* OK " + b"x" * 70000 + b"\r\n"),
    ),
)
@settings(max_examples=60, deadline=None)
def test_both_drivers_take_a_broken_server_the_same_way(
    fake: FakeLineServer, protocol: str, raw: bytes
) -> None:
    fake.script = Script(protocol, raw=raw)

    def sync_open() -> object:
        try:
            session = drivers.open_session(protocol, _settings(fake))
        except SASLError as exc:
            return type(exc), str(exc)
        session.close()
        return session.mechanisms

    async def async_open() -> object:
        try:
            async with await aio.open_session(protocol, _settings(fake)) as session:
                return session.mechanisms
        except SASLError as exc:
            return type(exc), str(exc)

    assert asyncio.run(async_open()) == sync_open()
