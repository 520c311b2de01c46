"""The asyncio client puts the very bytes of the socket client on the wire.

Both drive the one sans-I/O ``ClientSession``; this property holds them to it.
For arbitrary messages (any bytes, CRLF-vouched or not, several per session),
arbitrary offers (PIPELINING, CHUNKING, SIZE, 8BITMIME, SMTPUTF8, DSN), any
replies to MAIL, RCPT, DATA and the final one, and a server that hangs up at
any point, sent one by one or as one ``send_many``, each client runs against its own scripted server
(``tests.smtp.fakes``) with the same behaviour: the bytes each server
received, and what each client returned or raised, must be equal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit.certificates import self_signed
from sasl_kit.errors import SASLError, UsageError
from sasl_kit.smtp import DSN, SMTPClient, data
from sasl_kit.smtp.aio import AsyncSMTPClient
from sasl_kit.smtp.errors import ConnectionFailed
from sasl_kit.smtp.session import TLSMode
from tests.smtp.fakes import Behaviour, FakeSMTPServer, Message


@dataclass(frozen=True)
class Vouched(Message):
    crlf_only: ClassVar[bool] = True


ADDRESSES = st.sampled_from(["a@example.org", "b@example.org", "jürgen@example.org"])
REPLIES = {
    "mail": st.sampled_from(["250 2.1.0 ok", "550 5.7.1 no", "451 4.3.0 later"]),
    "rcpt": st.sampled_from(["250 2.1.5 ok", "550 5.1.1 unknown", "452 4.2.2 full"]),
    "data": st.sampled_from(["354 go ahead", "554 5.5.1 no valid recipients"]),
    "final": st.sampled_from(["250 2.0.0 queued", "554 5.6.0 refused", "451 4.3.0 later"]),
}
EXTENSIONS = st.lists(
    st.sampled_from(["PIPELINING", "CHUNKING", "8BITMIME", "SIZE 5000", "SMTPUTF8", "DSN"]),
    unique=True,
)
DROPS = st.sampled_from([None, "MAIL", "RCPT#1", "DATA", "data", "final"])


@st.composite
def messages(draw: st.DrawFn) -> Message:
    body = draw(st.binary(max_size=300))
    recipients = tuple(draw(st.lists(ADDRESSES, min_size=1, max_size=3)))
    vouched = draw(st.booleans())
    if vouched:
        body = body.replace(b"\r", b"").replace(b"\n", b"\r\n")
    kind = Vouched if vouched else Message
    return kind("a@example.org", recipients, body, eight_bit=draw(st.booleans()))


async def _async_session(
    port: int, batch: list[Message], dsn: DSN | None, many: bool
) -> list[object]:
    smtp = AsyncSMTPClient("127.0.0.1", port, tls="none", timeout=5)
    seen: list[object] = []
    try:
        await smtp.connect()
        if many:
            seen.extend(await smtp.send_many(batch, dsn=dsn))
        for message in [] if many else batch:
            seen.append(await smtp.send(message, dsn=dsn))
        await smtp.quit()
    except SASLError as exc:
        seen.append((type(exc).__name__, str(exc)))
    finally:
        await smtp.close()
    return seen


def _sync_session(port: int, batch: list[Message], dsn: DSN | None, many: bool) -> list[object]:
    smtp = SMTPClient("127.0.0.1", port, tls="none", timeout=5)
    seen: list[object] = []
    try:
        smtp.connect()
        if many:
            seen.extend(smtp.send_many(batch, dsn=dsn))
        for message in [] if many else batch:
            seen.append(smtp.send(message, dsn=dsn))
        smtp.quit()
    except SASLError as exc:
        seen.append((type(exc).__name__, str(exc)))
    finally:
        smtp.close()
    return seen


@settings(max_examples=150, deadline=None)
@given(
    batch=st.lists(messages(), min_size=1, max_size=3),
    extensions=EXTENSIONS,
    mail=REPLIES["mail"],
    rcpt=st.dictionaries(ADDRESSES, REPLIES["rcpt"]),
    data_reply=REPLIES["data"],
    final=REPLIES["final"],
    drop=DROPS,
    dsn=st.none() | st.builds(DSN, ret=st.sampled_from([None, "HDRS"]), orcpt=st.booleans()),
    chunk=st.integers(min_value=5, max_value=400),
    many=st.booleans(),
)
def test_both_clients_send_the_same_bytes_and_report_the_same(
    batch: list[Message],
    extensions: list[str],
    mail: str,
    rcpt: dict[str, str],
    data_reply: str,
    final: str,
    drop: str | None,
    dsn: DSN | None,
    chunk: int,
    many: bool,
) -> None:
    """``many``: the batch goes as one ``send_many`` (a ``BatchStopped`` compared by its text,
    which counts its results and unsent messages and quotes the error)."""

    def behaviour() -> Behaviour:
        return Behaviour(
            extensions=tuple(extensions),
            mail_reply=mail,
            rcpt_replies=rcpt,
            data_reply=data_reply,
            final_reply=final,
            drop=drop,
        )

    with mock.patch.object(data, "BDAT_CHUNK", chunk):  # small chunks: BDAT crosses messages
        with FakeSMTPServer(behaviour()) as sync_server:
            sync_seen = _sync_session(sync_server.port, batch, dsn, many)
        with FakeSMTPServer(behaviour()) as async_server:
            async_seen = asyncio.run(_async_session(async_server.port, batch, dsn, many))
    assert async_server.received == sync_server.received
    assert async_seen == sync_seen


CERTIFICATE = self_signed(["127.0.0.1"])


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_both_clients_say_the_same_over_tls_and_auth(
    tmp_path: Path, tls: TLSMode, mechanism: str
) -> None:
    """Over TLS (the server's bytes decrypted), with the deterministic mechanisms."""
    users = {"tim": "tanstaaftanstaaf"}

    def behaviour() -> Behaviour:
        return Behaviour(
            extensions=("PIPELINING", "CHUNKING"),
            tls=CERTIFICATE.server_context(tmp_path),
            implicit_tls=tls == "implicit",
            mechanisms=(mechanism,),
            users=users,
        )

    message = Message("a@example.org", ("b@example.org",), b"Subject: x\r\n\r\nhi\r\n")
    options = {"tls": tls, "cafile": str(CERTIFICATE.write(tmp_path)[0]), "timeout": 5}

    async def run_async(port: int) -> object:
        async with AsyncSMTPClient("127.0.0.1", port, **options) as smtp:
            return await smtp.login("tim", users["tim"]), await smtp.send(message)

    with (
        FakeSMTPServer(behaviour()) as sync_server,
        SMTPClient("127.0.0.1", sync_server.port, **options) as smtp,
    ):
        sync_seen = smtp.login("tim", users["tim"]), smtp.send(message)
    with FakeSMTPServer(behaviour()) as async_server:
        async_seen = asyncio.run(run_async(async_server.port))
    assert async_server.received == sync_server.received
    assert b"AUTH " + mechanism.encode() in sync_server.received
    assert async_seen == sync_seen


def test_a_cancelled_send_ends_the_session_and_its_connection() -> None:
    """Cancelled while waiting for the final reply: the server may hold part of a
    session, so the client closes rather than go on out of step."""

    async def cancel_during_send(port: int) -> None:
        smtp = AsyncSMTPClient("127.0.0.1", port, tls="none", timeout=5)
        await smtp.connect()
        message = Message("a@example.org", ("b@example.org",), b"Subject: x\r\n\r\nhi\r\n")
        task = asyncio.create_task(smtp.send(message))
        await asyncio.sleep(0.2)  # the data is out; the server is silent
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(UsageError, match="not connected"):
            await smtp.send(message)
        assert smtp.authenticated_as is None and not smtp.encrypted

    with FakeSMTPServer(Behaviour(stall="final")) as server:
        asyncio.run(cancel_during_send(server.port))
    assert server.messages  # it had the whole message when the client left


@pytest.mark.parametrize("extensions", [(), ("CHUNKING",)], ids=["DATA", "BDAT"])
def test_a_plain_connection_lost_inside_the_data_is_a_connection_failure(
    extensions: tuple[str, ...],
) -> None:
    """Without TLS the transport's ``drain`` reports the loss itself (the fault tests of
    tests/smtp hold the TLS case): the end of the data never left, nothing was delivered."""

    async def send(port: int) -> None:
        async with AsyncSMTPClient("127.0.0.1", port, tls="none", timeout=5) as smtp:
            lines = b"x" * 76 + b"\r\n"
            await smtp.send(Message("a@example.org", ("b@example.org",), lines * 100_000))

    with (
        FakeSMTPServer(Behaviour(extensions=extensions, drop="data")) as server,
        pytest.raises(ConnectionFailed),
    ):
        asyncio.run(send(server.port))
