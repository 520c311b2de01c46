"""The asyncio SMTP submission client: ``SMTPClient``'s twin on asyncio streams.

Rules of this module:
- It only moves bytes and awaits: every command, reply, policy and result is
  the sans-I/O session's (``sasl_kit.smtp.session``, whose rules apply here),
  the very object ``SMTPClient`` drives on a socket. Both clients therefore
  put the same bytes on the wire and return the same results, the
  outcome-unknown rule, PIPELINING, BDAT and streamed data included.
- Each step (connect, write and drain, read, TLS handshake) is bounded by
  the session's timeout (``asyncio.timeout``); a step that fails or is
  cancelled is thrown back into the session, which decides what it means.
  The connection is closed as soon as the session ends.
- TLS is ``asyncio``'s (``StreamWriter.start_tls``, for implicit TLS right
  after the connection), certificates verified by the session's context.
- A write step ends as ``socket.sendall`` does: its data handed to the
  kernel (the transport's write buffer limit is 0, so ``drain`` waits for
  it), and a connection lost on the way is an error of that step, not of a
  later one (the TLS transport reports a failed send one turn of the loop
  late: over TLS the step yields once and looks; a plain transport's
  ``drain`` raises at once). Data given as a view of a buffer
  the session reuses is copied first: the transport may keep a reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TypeVar

from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols.base import ClientAuth, Result
from sasl_kit.smtp.data import OutgoingMessage, Progress
from sasl_kit.smtp.driver import SessionDriver
from sasl_kit.smtp.results import EnvelopeResult, SendResult
from sasl_kit.smtp.session import (
    DSN,
    READ_SIZE,
    Connect,
    ConnectStage,
    M,
    StartTLS,
    Step,
    Steps,
    Write,
)

__all__ = ["AsyncBindingHook", "AsyncSMTPClient"]

T = TypeVar("T")
AsyncBindingHook = Callable[[ssl.SSLObject], ChannelBinding]


class AsyncSMTPClient(SessionDriver[ssl.SSLObject]):
    """One SMTP session on asyncio: ``async with AsyncSMTPClient(host) as smtp: ...``.

    The arguments are ``SessionDriver``'s (``SMTPClient``'s); ``channel_binding``
    is called with the connection's ``ssl.SSLObject``.
    """

    # --- the session's operations ------------------------------------------------

    async def connect(self, *, stop_after: ConnectStage | None = None) -> None:
        """Greeting, EHLO, and TLS as ``tls`` asks (``ClientSession.opening``)."""
        await self._run(self._session.opening(stop_after))

    async def login(
        self,
        username: str,
        password: str,
        *,
        authzid: str = "",
        mechanisms: Sequence[str] | None = None,
        require_tls: bool = True,
        allow_plaintext: bool = False,
        anonymous: bool = False,
        **options: object,
    ) -> str:
        """Authenticate with the strongest usable mechanism; its name (``ClientSession.login``).

        Channel binding comes from the ``channel_binding`` hook.
        """
        return await self._run(
            self._session.login(
                username,
                password,
                binding=self._binding,
                authzid=authzid,
                mechanisms=mechanisms,
                require_tls=require_tls,
                allow_plaintext=allow_plaintext,
                anonymous=anonymous,
                **options,
            )
        )

    async def authenticate(self, auth: ClientAuth) -> Result:
        """One exchange of the SMTP profile on this connection (``ClientSession.authenticate``)."""
        return await self._run(self._session.authenticate(auth))

    async def send(
        self, message: OutgoingMessage, *, dsn: DSN | None = None, progress: Progress | None = None
    ) -> SendResult:
        """Send one message; what the server did with it (``ClientSession.send``)."""
        return await self._run(self._session.send(message, dsn=dsn, progress=progress))

    async def send_many(
        self,
        messages: Iterable[M],
        *,
        dsn: DSN | None = None,
        on_result: Callable[[M, SendResult], None] | None = None,
    ) -> list[SendResult]:
        """Send each message in turn; a result for each, in order (``ClientSession.send_many``:
        RFC 2920 pipelining across messages; a batch that stops raises ``BatchStopped``)."""
        return await self._run(self._session.send_many(messages, dsn=dsn, on_result=on_result))

    async def check_envelope(
        self, sender: str, recipients: Sequence[str] = (), *, dsn: DSN | None = None
    ) -> EnvelopeResult:
        """MAIL FROM and RCPT TO, then RSET (``ClientSession.check_envelope``)."""
        return await self._run(self._session.check_envelope(sender, recipients, dsn=dsn))

    async def quit(self) -> None:
        """Say QUIT and close; a server that hangs up first is no error."""
        if self._writer is not None:
            await self._run(self._session.quit())
        await self.close()

    async def close(self) -> None:
        writer = self._drop()
        if writer is not None:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> AsyncSMTPClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.quit()
        else:
            await self.close()

    # --- performing the steps ------------------------------------------------------

    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    def _tls_object(self) -> ssl.SSLObject | None:
        if self._writer is None:
            return None
        ssl_object = self._writer.get_extra_info("ssl_object")
        return ssl_object if isinstance(ssl_object, ssl.SSLObject) else None

    def _drop(self) -> asyncio.StreamWriter | None:
        """End the session and close the connection (without waiting); the writer it had."""
        self._session.end()
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
        return writer

    async def _run(self, steps: Steps[T]) -> T:
        """Perform ``steps`` on the streams; a failed step's exception goes back into them."""
        try:
            step = next(steps)
            while True:
                try:
                    answer = await self._perform(step)
                except BaseException as exc:  # cancellation too: the session decides
                    step = steps.throw(exc)
                else:
                    step = steps.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            if not self._session.open:
                self._drop()

    async def _perform(self, step: Step) -> bytes | str:
        async with asyncio.timeout(self._session.timeout):
            if type(step) is Write:
                assert self._writer is not None
                data = step.data
                if isinstance(data, memoryview) and not data.readonly:
                    data = bytes(data)
                self._writer.write(data)
                await self._writer.drain()  # raises on a plain connection that was lost
                if self._tls_object() is not None:
                    await asyncio.sleep(0)  # over TLS a failed send shows one turn later
                    if self._writer.transport.is_closing():
                        raise ConnectionResetError("the connection was lost")
                return b""
            if type(step) is Connect:
                self._reader, self._writer = await asyncio.open_connection(step.host, step.port)
                self._writer.transport.set_write_buffer_limits(0)  # a write ends in the kernel
                address: str = self._writer.get_extra_info("sockname")[0]
                return address
            assert self._reader is not None and self._writer is not None
            if type(step) is StartTLS:
                await self._writer.start_tls(
                    step.context,
                    server_hostname=step.server_hostname,
                    ssl_handshake_timeout=self._session.timeout,
                )
                return b""
            return await self._reader.read(READ_SIZE)
