"""aiosmtplib authenticates with every registry mechanism through ``aio_bridges``, against
``sasl-kit serve`` (the Postfix + Dovecot proof is in tests/interop/test_postfix_aio.py)."""

from __future__ import annotations

import asyncio
import ssl

import aiosmtplib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sasl_kit
from sasl_kit.aio_bridges import aiosmtplib_authenticate
from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp import SMTPClient
from sasl_kit.smtp_server import MailServer
from tests.smtp.fakes import Behaviour, FakeSMTPServer

PASSWORD_MECHANISMS = [
    info.name
    for info in sasl_kit.default_registry
    if info.server and info.client and info.credential == "password"
]
BODY = b"Subject: aio\r\nFrom: user@example.test\r\n\r\nHello from aiosmtplib.\r\n"


def run(
    server: MailServer, mechanism: str | None, password: str = SMTP_PASSWORD, **kw: object
) -> str:
    async def go() -> str:
        context = ssl.create_default_context(cafile=str(server.cafile))
        smtp = aiosmtplib.SMTP(hostname=server.host, port=server.port, tls_context=context,
                               start_tls=True, timeout=10)  # fmt: skip
        async with smtp:
            await smtp.ehlo()
            mechanisms = None if mechanism is None else [mechanism]
            name = await aiosmtplib_authenticate(
                smtp, SMTP_USER, password, mechanisms=mechanisms,
                binding_type="tls-server-end-point", **kw,
            )  # fmt: skip
            await smtp.sendmail("user@example.test", ["to@example.test"], BODY)
            return name

    return asyncio.run(go())


@pytest.mark.parametrize("mechanism", PASSWORD_MECHANISMS)
def test_every_password_mechanism_authenticates_and_the_message_is_stored(
    smtp_server_factory: object, mechanism: str
) -> None:
    server = smtp_server_factory(allow_ntlmv1=False)  # type: ignore[operator]
    assert run(server, mechanism) == mechanism
    (message,) = server.messages()
    assert (message.user, message.mechanism, message.data) == (SMTP_USER, mechanism, BODY)


def test_without_a_limit_the_strongest_is_chosen(smtp_server: MailServer) -> None:
    assert run(smtp_server, None) == "SCRAM-SHA-512-PLUS"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN"])
def test_a_wrong_password_is_aiosmtplibs_authentication_error(
    smtp_server: MailServer, mechanism: str
) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
        run(smtp_server, mechanism, "not-the-password")
    assert caught.value.code == 535
    assert "not-the-password" not in str(caught.value)


@pytest.mark.smtp_server(tokens={"user": "token-1"})
def test_oauth_with_a_token(smtp_server: MailServer) -> None:
    assert run(smtp_server, "OAUTHBEARER", "", token="token-1") == "OAUTHBEARER"


def _auth_lines(commands: list[str]) -> list[str]:
    """What the client wrote from AUTH to the end of the exchange."""
    first = next(i for i, c in enumerate(commands) if c.startswith("AUTH "))
    return commands[first : first + 4]


async def _aio_login(port: int, mechanism: str, user: str, password: str) -> None:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10)
    async with smtp:
        await smtp.ehlo()
        await aiosmtplib_authenticate(
            smtp, user, password, mechanisms=[mechanism], allow_plaintext=True
        )


# Characters SASLprep leaves as they are (NFKC changes compatibility characters, and the
# server looks the user up by the prepared name).
_PRINTABLE = st.sampled_from("abcxyzABCXYZ0189!#%&*+-./=?_~äöüßéÅñ")


@settings(max_examples=20, deadline=None)
@given(
    st.sampled_from(["PLAIN", "LOGIN", "CRAM-MD5"]),
    st.text(_PRINTABLE, min_size=1, max_size=12),
    st.text(_PRINTABLE, min_size=1, max_size=16),
)
def test_the_async_bridge_and_the_sync_client_put_the_same_auth_bytes_on_the_wire(
    mechanism: str, user: str, password: str
) -> None:
    # The fake server's CRAM-MD5 challenge is fixed (nonce), so every line is determined.
    behaviour = Behaviour(
        extensions=("AUTH PLAIN LOGIN CRAM-MD5",), mechanisms=(mechanism,),
        users={user: password}, server_options={"nonce": "1896.697170952"},
    )  # fmt: skip
    with (
        FakeSMTPServer(behaviour) as sync_server,
        SMTPClient("127.0.0.1", sync_server.port, tls="none", timeout=10) as smtp,
    ):
        smtp.login(user, password, mechanisms=[mechanism], require_tls=False, allow_plaintext=True)
    with FakeSMTPServer(behaviour) as async_server:
        asyncio.run(_aio_login(async_server.port, mechanism, user, password))
    assert _auth_lines(async_server.commands) == _auth_lines(sync_server.commands)
