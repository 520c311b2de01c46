"""A thin SMTP submission client on one socket: the driver of ``session.ClientSession``.

Rules of this module:
- It only moves bytes: every command, reply, policy and result is the
  sans-I/O session's (``sasl_kit.smtp.session``, whose rules apply here);
  this module performs its steps on a socket and hands back what it read.
  ``sasl_kit.smtp.aio.AsyncSMTPClient`` performs the same steps on asyncio
  streams.
- TLS is on by default and certificates are verified; credentials are never
  sent without TLS unless ``login(require_tls=False)`` says so.
- Every socket operation has the session's timeout (60 s by default). The
  socket is closed as soon as the session ends.
"""

from __future__ import annotations

import socket
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
    TLSMode,
    Write,
)

__all__ = ["DSN", "BindingHook", "ConnectStage", "SMTPClient", "TLSMode"]

T = TypeVar("T")
BindingHook = Callable[[ssl.SSLSocket], ChannelBinding]


class SMTPClient(SessionDriver[ssl.SSLSocket]):
    """One SMTP session on a socket: ``with SMTPClient(host) as smtp: ...``.

    The arguments are ``SessionDriver``'s; ``channel_binding`` is called with
    the ``ssl.SSLSocket``.
    """

    # --- the session's operations ------------------------------------------------

    def connect(self, *, stop_after: ConnectStage | None = None) -> None:
        """Greeting, EHLO, and TLS as ``tls`` asks (``ClientSession.opening``)."""
        self._run(self._session.opening(stop_after))

    def login(
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
        return self._run(
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

    def authenticate(self, auth: ClientAuth) -> Result:
        """One exchange of the SMTP profile on this connection (``ClientSession.authenticate``)."""
        return self._run(self._session.authenticate(auth))

    def send(
        self, message: OutgoingMessage, *, dsn: DSN | None = None, progress: Progress | None = None
    ) -> SendResult:
        """Send one message; what the server did with it (``ClientSession.send``)."""
        return self._run(self._session.send(message, dsn=dsn, progress=progress))

    def send_many(
        self,
        messages: Iterable[M],
        *,
        dsn: DSN | None = None,
        on_result: Callable[[M, SendResult], None] | None = None,
    ) -> list[SendResult]:
        """Send each message in turn; a result for each, in order (``ClientSession.send_many``:
        RFC 2920 pipelining across messages; a batch that stops raises ``BatchStopped``)."""
        return self._run(self._session.send_many(messages, dsn=dsn, on_result=on_result))

    def check_envelope(
        self, sender: str, recipients: Sequence[str] = (), *, dsn: DSN | None = None
    ) -> EnvelopeResult:
        """MAIL FROM and RCPT TO, then RSET (``ClientSession.check_envelope``)."""
        return self._run(self._session.check_envelope(sender, recipients, dsn=dsn))

    def quit(self) -> None:
        """Say QUIT and close; a server that hangs up first is no error."""
        if self._sock is not None:
            self._run(self._session.quit())

    def close(self) -> None:
        self._session.end()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> SMTPClient:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.quit()
        else:
            self.close()

    # --- performing the steps ------------------------------------------------------

    _sock: socket.socket | None = None

    def _tls_object(self) -> ssl.SSLSocket | None:
        return self._sock if isinstance(self._sock, ssl.SSLSocket) else None

    def _run(self, steps: Steps[T]) -> T:
        """Perform ``steps`` on the socket; a failed step's exception goes back into them."""
        try:
            step = next(steps)
            while True:
                try:
                    answer = self._perform(step)
                except BaseException as exc:
                    step = steps.throw(exc)
                else:
                    step = steps.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            if not self._session.open:
                self.close()

    def _perform(self, step: Step) -> bytes | str:
        if type(step) is Write:
            assert self._sock is not None
            self._sock.sendall(step.data)
            return b""
        if type(step) is Connect:
            return self._connect(step)
        assert self._sock is not None
        if type(step) is StartTLS:
            self._sock = step.context.wrap_socket(self._sock, server_hostname=step.server_hostname)
            return b""
        return self._sock.recv(READ_SIZE)

    def _connect(self, step: Connect) -> str:
        sock = socket.create_connection((step.host, step.port), timeout=self._session.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        address: str = sock.getsockname()[0]
        return address
