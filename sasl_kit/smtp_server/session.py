"""One SMTP connection: aiosmtpd's ``SMTP``, with the paths it gets wrong replaced.

Rules of this module:
- aiosmtpd parses the commands and keeps the session state; this class
  replaces what must behave as Postfix and Dovecot do, never aiosmtpd's source:
  the command loop (``_handle_client``), DATA, STARTTLS, AUTH's mechanism
  name and the idle timeout. The handler (``smtp.Handler``) decides AUTH and
  what a message's final reply is.
- Every line is read through ``lines.read_line``: an over-long command, AUTH
  answer or message line gets one ``500 5.5.6`` reply (the message line's
  after the end of the data) and the session stays in sync.
- No reply ever carries an exception's text, a traceback or a path: an
  unexpected error in a command is logged with its traceback and answered
  ``451 4.3.0`` (the transaction is reset), or ``421`` and the connection
  closed where the client is still sending message data. Other sessions go on.
- Message data goes to a ``store.Spool`` line by line as it arrives, so a
  message is never held whole in memory; the handler's ``deliver`` commits it.
- Limits: ``Connections`` counts the open sessions of one server; past its
  limit a session gets 421 instead of the greeting. A client silent for the
  idle timeout gets 421. 421 always closes the connection (RFC 5321 3.8).
- Faults (``faults``) wrap every SMTP command.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Session, TLSSetupException

from sasl_kit.smtp_server.faults import DROP, FaultInjector
from sasl_kit.smtp_server.lines import (
    AUTH_LINE_LIMIT,
    COMMAND_LIMIT,
    COMMAND_LIMITS,
    DATA_LINE_LIMIT,
    READ_LIMIT,
    read_line,
)
from sasl_kit.smtp_server.store import MailStore, Spool

logger = logging.getLogger("sasl_kit.server")

LINE_TOO_LONG = "500 5.5.6 Error: line too long"
DATA_LINE_TOO_LONG = "500 5.5.6 Error: a message line over 1000 octets (RFC 5321 4.5.3.1.6)"
TOO_MUCH_DATA = "552 5.3.4 Error: message file too big"
STORE_FAILED = "451 4.3.0 Error: the message could not be stored, try again later"
INTERNAL_ERROR = "451 4.3.0 Error: local error in processing"
TLS_ACTIVE = "554 5.5.1 Error: TLS already active"
UNRECOGNIZED = "502 5.5.2 Error: command not recognized"
BAD_SYNTAX = "500 5.5.2 Error: bad syntax"
BOGUS_LIMIT = 5  # unrecognized commands before the connection is closed, as aiosmtpd does


class Connections:
    """The open sessions of one server, at most ``limit`` at a time (the event loop's thread)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def admit(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


@dataclass
class Received:
    """What reading one message's data found, besides the data (in the spool)."""

    too_long: bool = False
    too_much: bool = False
    bare_line_ending: bool = False  # a CR or LF not part of CRLF (RFC 5321 2.3.8)


class QuietSession(Session):
    """aiosmtpd's session without the deprecation warning it logs on every AUTH."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class SASLSMTP(SMTP):
    """aiosmtpd's SMTP with its own command loop, DATA spooling, limits and faults."""

    line_length_limit = READ_LIMIT  # aiosmtpd makes its stream reader with this limit

    def __init__(
        self,
        handler: Any,
        injector: FaultInjector,
        connections: Connections,
        store: MailStore,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._injector = injector
        self._connections = connections
        self._store = store
        self._step = "greeting"
        self._last_input = self.loop.time()
        self._in_data = False
        self.auth_failures = 0
        self._smtp_methods = {
            verb: self._with_faults(verb, method) for verb, method in self._smtp_methods.items()
        }

    def _create_session(self) -> Session:
        return QuietSession(self.loop)

    @property
    def encrypted(self) -> bool:
        """TLS is on, by STARTTLS or from the first byte (implicit TLS)."""
        return self.transport is not None and bool(self.transport.get_extra_info("ssl_object"))

    @property
    def session_peer(self) -> str:
        peer = self.session.peer if self.session is not None else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first and self._injector.faults.drop_at == "greeting":
            logger.info("%s: hanging up before the greeting (injected fault)", self.session_peer)
            transport.abort()  # type: ignore[attr-defined]

    # --- reading and writing ------------------------------------------------------

    async def read_line(self, limit: int, end: bytes = b"\n") -> bytes | None:
        """The client's next line (``None``: it was over ``limit`` and is skipped)."""
        line = await read_line(self._reader, limit, end)
        self._last_input = self.loop.time()
        return line

    async def push(self, status: AnyStr) -> None:
        delay = self._injector.delay(self._step)
        if delay:
            await asyncio.sleep(delay)
        if self.transport is None or self.transport.is_closing():
            return  # hung up (a fault, a timeout): nothing more to say
        await super().push(status)
        if (status[:4] if isinstance(status, str) else status[:4].decode()) == "421 ":
            self.transport.close()  # RFC 5321 3.8: 421 closes the transmission channel

    async def challenge(self, line: str) -> bytes | None:
        """Send one AUTH challenge line (the SMTP profile's) and read the answer line;
        ``None``: over the limit."""
        await self.push(line)
        return await self.read_line(AUTH_LINE_LIMIT)

    def _timeout_cb(self) -> None:
        idle = self.loop.time() - self._last_input
        if idle < self._timeout_duration:  # a line came since the timer was set
            self._reset_timeout(self._timeout_duration - idle)
            return
        logger.info("%s: idle for %g s, closing", self.session_peer, self._timeout_duration)
        if self.transport is not None and not self.transport.is_closing():
            goodbye = f"421 4.4.2 {self.hostname} Error: timeout exceeded\r\n"
            self.transport.write(goodbye.encode())  # type: ignore[attr-defined]
            self.transport.close()

    # --- faults ---------------------------------------------------------------------

    def fault(self, step: str) -> str | None:
        """The fault planned for ``step``: ``DROP`` (hung up already), a reply to give, or None."""
        self._step = step
        fault = self._injector.decide(step)
        if fault == DROP and self.transport is not None:
            logger.info("%s: hanging up at %s (injected fault)", self.session_peer, step)
            self.transport.abort()  # type: ignore[attr-defined]
        return fault

    def _with_faults(self, verb: str, method: Any) -> Any:
        async def run(arg: str | None) -> None:
            fault = self.fault(verb)
            if fault is None:
                await method(arg)
            elif fault != DROP:
                await self.push(fault)

        return run

    # --- the command loop -----------------------------------------------------------

    async def _handle_client(self) -> None:
        if not self._connections.admit():
            open_now = self._connections.open
            logger.warning("%s: refused: %d connections open already", self.session_peer, open_now)
            await self.push(f"421 4.3.2 {self.hostname} Error: too many connections, try later")
            return
        try:
            await self.push(f"220 {self.hostname} {self.__ident__}")
            bogus = 0
            while self.transport is not None and not self.transport.is_closing():
                parsed = _parse(await self.read_line(READ_LIMIT))
                if isinstance(parsed, str):
                    await self.push(parsed)
                    continue
                verb, arg = parsed
                method = self._smtp_methods.get(verb)
                if method is None:
                    bogus += 1
                    if bogus >= BOGUS_LIMIT:
                        await self.push(f"421 4.7.0 {self.hostname} Error: too many errors")
                    else:
                        await self.push(UNRECOGNIZED)
                    continue
                self._reset_timeout()
                await self._run(verb, method, arg)
        except (asyncio.IncompleteReadError, ConnectionError):
            logger.info("%s: connection lost", self.session_peer)
        finally:
            self._connections.leave()

    async def _run(self, verb: str, method: Any, arg: str | None) -> None:
        try:
            await method(arg)
        except TLSSetupException:
            logger.info("%s: TLS handshake failed", self.session_peer)
            if self.transport is not None:
                self.transport.close()
            self.connection_lost(None)
        except (asyncio.CancelledError, asyncio.IncompleteReadError, ConnectionError):
            raise
        except Exception:
            logger.exception("%s: internal error in %s", self.session_peer, verb)
            if self._in_data:  # the client is still sending the message: no way back in sync
                await self.push(f"421 4.3.0 {self.hostname} Error: local error in processing")
            else:
                self.envelope = self._create_envelope()  # the transaction is lost
                await self.push(INTERNAL_ERROR)

    # --- commands replaced ----------------------------------------------------------

    async def smtp_AUTH(self, arg: str | None) -> None:
        """Mechanism names match whatever their case (RFC 4954 4; Postfix and Dovecot do)."""
        if arg:
            name, space, rest = arg.partition(" ")
            arg = name.upper() + space + rest
        await super().smtp_AUTH(arg)

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        if self.encrypted:  # RFC 3207 4.2: not again; implicit TLS counts
            await self.push(TLS_ACTIVE)
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        assert self.envelope is not None and self.session is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        try:
            spool = self._store.spool()
        except OSError as exc:
            logger.error("%s: cannot start a message file: %s", self.session_peer, exc)
            await self.push(STORE_FAILED)
            return
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            self._in_data = True
            received = await self._receive(spool)
            self._in_data = False
            status = await self.event_handler.deliver(
                self, self.session, self.envelope, spool, received
            )
        finally:
            spool.discard()  # a no-op once committed (the file has moved to new/)
        self.envelope = self._create_envelope()
        await self.push(status)

    async def _receive(self, spool: Spool) -> Received:
        """Read the message data up to the lone dot, undoing dot-stuffing, into ``spool``."""
        received = Received()
        limit = self.data_size_limit
        size = 0
        while True:
            line = await self.read_line(DATA_LINE_LIMIT, b"\r\n")
            if line is None:
                received.too_long = True
                continue
            if line == b".\r\n":
                return received
            if b"\r" in line[:-2] or b"\n" in line[:-2]:
                received.bare_line_ending = True
            if line[:1] == b".":  # RFC 5321 4.5.2
                line = line[1:]
            size += len(line)
            if limit and size > limit:
                received.too_much = True
            if not (received.too_long or received.too_much):
                spool.write(line)


def _parse(line: bytes | None) -> tuple[str, str | None] | str:
    """(verb, argument) of a command line, or the reply that refuses the line."""
    if line is None:
        return LINE_TOO_LONG
    text = line.rstrip(b"\r\n")
    verb_bytes, _, arg_bytes = text.partition(b" ")
    if not text or not verb_bytes.isascii():
        return BAD_SYNTAX
    verb = verb_bytes.upper().decode("ascii")
    if len(line) > COMMAND_LIMITS.get(verb, COMMAND_LIMIT):
        return LINE_TOO_LONG
    # Arguments may be UTF-8 (SMTPUTF8); surrogateescape keeps any other byte.
    return verb, arg_bytes.strip().decode("utf-8", "surrogateescape") or None
