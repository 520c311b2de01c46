"""The SMTP client session, sans-I/O: what the client says, and what each reply means.

Rules of this module:
- No socket and no ``await``. Every operation (``opening``, ``login``,
  ``authenticate``, ``send``, ``send_many``, ``check_envelope``, ``quit``) is
  a generator of I/O steps: ``Connect``, ``Write``, ``Recv``, ``StartTLS``. A
  driver performs each step and sends back what it got (the local address
  after ``Connect``, the bytes read after ``Recv``, ``b""`` otherwise):
  ``SMTPClient`` on a socket, ``AsyncSMTPClient`` on asyncio streams. Both
  run this one session, so both put the same bytes on the wire and reach the
  same results.
- A driver throws the exception of a failed step into the generator; the
  session turns it into the project's error (``ConnectionFailed`` naming the
  host and what it was doing) and ends itself. Whenever ``open`` is false
  after a step, the driver closes its connection: the session alone decides
  when a connection is beyond use (a reply it cannot parse, a refused
  greeting, a message stopped half-sent, an interrupt during I/O).
- It decides nothing about a mechanism: the registry chooses (its
  ``encrypted=`` flag is the plaintext policy), the mechanism object
  computes, the SMTP profile frames (334, base64, ``*``).
- TLS: the ``StartTLS`` step carries the context (``ssl.create_default_context``
  unless one was given; certificates verified unless ``insecure_tls``).
  Bytes that arrive with the STARTTLS 220 reply, before the handshake, end
  the session (STARTTLS response injection); after the handshake EHLO is
  sent again and nothing learnt before TLS is kept.
- A message counts as sent only on the final 2xx after its data. A link lost
  after the end of the data was handed over and before that reply is
  ``OutcomeUnknown``; lost any earlier, nothing can have been delivered and
  it is ``ConnectionFailed``. Refusals by the server are results, not
  exceptions.
- The transcript (``transcript`` callback and the ``sasl_kit.smtp`` logger at
  DEBUG) shows every command and reply except AUTH payloads and 334
  challenges, which read ``<redacted>`` (the callback alone gets them with
  ``transcript_secrets=True``), and message data, shown as a byte count.

Theory of operation: ``opening`` connects, reads the greeting, sends EHLO,
upgrades with STARTTLS (or starts with TLS) and sends EHLO again. ``login``
walks the registry's usable mechanisms, strongest first, each exchange run by
``authenticate`` through the SMTP profile: 504/534 move on to the next one,
535/454/538 stop. ``send`` writes MAIL, every RCPT and DATA in one write when
the server offers PIPELINING, reads the replies in order, then sends the data
with BDAT (CHUNKING) or DATA, and reads the final reply; with CHUNKING and
PIPELINING a small CRLF-only message goes in the same write as its envelope.
``send_many`` sends a batch; with PIPELINING and DATA the end of each message's
data goes in one write with the next one's MAIL, RCPT and DATA (RFC 2920 3.1).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeAlias, TypeVar

from sasl_kit.errors import MutualAuthenticationFailed, PolicyRefused, UsageError
from sasl_kit.login_plan import plan_login
from sasl_kit.mechanisms.base import ChannelBinding, ClientMechanism
from sasl_kit.protocols import smtp as smtp_profile
from sasl_kit.protocols.base import ClientAuth, Outcome, Result
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.registry import Registry, default_registry
from sasl_kit.smtp import data
from sasl_kit.smtp.data import OutgoingMessage, Progress, Report
from sasl_kit.smtp.errors import (
    BatchStopped,
    CommandRejected,
    ConnectionFailed,
    CredentialsRejected,
    NoUsableMechanism,
    OutcomeUnknown,
    SMTPError,
    SMTPProtocolError,
    TemporaryFailure,
    TLSRequired,
)
from sasl_kit.smtp.protocol import (
    DataEncoder,
    Extensions,
    Reply,
    ReplyParser,
    command,
    utf8_addr_xtext,
    xtext,
)
from sasl_kit.smtp.results import EnvelopeResult, RecipientResult, SendResult, Status

logger = logging.getLogger("sasl_kit.smtp")

TLSMode = Literal["starttls", "implicit", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "implicit": 465, "none": 25}
READ_SIZE = 1 << 16
"""The most a driver reads at a time."""
WITH_ENVELOPE = 1 << 16
"""With CHUNKING and PIPELINING, a CRLF-only message up to this size goes in one
write with its envelope (``ClientSession._send_with_envelope``)."""

T = TypeVar("T")
M = TypeVar("M", bound=OutgoingMessage)
Envelope: TypeAlias = tuple[Reply, list[Reply | None], Reply | None]
"""The replies to MAIL and to each RCPT (``None``: not sent), and to DATA when it went with them."""


# --- the steps a driver performs ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    """Open a TCP connection to ``host``:``port`` (TCP_NODELAY on: writes are
    whole command groups, and Nagle would hold a short last one until the
    peer's delayed ACK); answer with our end's address."""

    host: str
    port: int


class Write:
    """Hand ``data`` to the connection whole; it may be a view of a buffer the
    session reuses once the step is done. (A plain class: one is made for
    every write, and a frozen dataclass costs twice as much to make.)"""

    __slots__ = ("data",)

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = data


@dataclass(frozen=True, slots=True)
class Recv:
    """Read what the server sent, at most ``READ_SIZE`` bytes; ``b""`` when it hung up."""


@dataclass(frozen=True, slots=True)
class StartTLS:
    """Do the TLS handshake now, with ``context``, for ``server_hostname``."""

    context: ssl.SSLContext
    server_hostname: str


Step: TypeAlias = Connect | Write | Recv | StartTLS
Steps: TypeAlias = Generator[Step, "bytes | str", T]
"""A session operation: each step is sent back what the driver got (see the rules)."""

RECV = Recv()

NOTIFY = ("SUCCESS", "FAILURE", "DELAY")


@dataclass(frozen=True)
class DSN:
    """Delivery status notification options (RFC 3461), passed through to the server.

    ``notify`` is ``("NEVER",)`` or any of SUCCESS, FAILURE, DELAY; ``orcpt``
    adds each recipient's address as ORCPT.
    """

    ret: Literal["FULL", "HDRS"] | None = None
    envid: str | None = None
    notify: tuple[str, ...] = ()
    orcpt: bool = False

    def __post_init__(self) -> None:
        if self.notify != ("NEVER",) and not set(self.notify) <= set(NOTIFY):
            raise UsageError(f"DSN notify is NEVER alone or any of {', '.join(NOTIFY)}")


ConnectStage = Literal["greeting", "ehlo"]
Transcript = Callable[[str], None]


class ClientSession:
    """One SMTP client session's state and rules; a driver performs its steps.

    ``open`` is true from ``opening``'s connection until the session ends;
    ``encrypted`` once a TLS handshake is done. ``context`` is the TLS context
    to use instead of one made from ``cafile`` and ``insecure_tls``.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: TLSMode = "starttls",
        timeout: float = 60.0,
        cafile: str | None = None,
        insecure_tls: bool = False,
        local_hostname: str | None = None,
        transcript: Transcript | None = None,
        registry: Registry = default_registry,
        transcript_secrets: bool = False,
        context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in DEFAULT_PORTS:
            raise UsageError(f"tls must be one of {', '.join(DEFAULT_PORTS)}, not {tls!r}")
        self.host = host
        self.port = DEFAULT_PORTS[tls] if port is None else port
        self.tls: TLSMode = tls
        self.timeout = timeout
        self._cafile = cafile
        self._insecure = insecure_tls
        self._context = context
        self._local_hostname = local_hostname
        self._transcript = transcript
        self._redact = not transcript_secrets
        self._registry = registry
        self.open = False
        self.encrypted = False
        self._parser = ReplyParser()
        self._replies: deque[Reply] = deque()
        self.extensions = Extensions.none()
        """What the last EHLO offered (after TLS, the EHLO sent over TLS)."""
        self.extensions_before_tls: Extensions | None = None
        """What the EHLO before STARTTLS offered; ``None`` when there was no STARTTLS."""
        self._dirty = False
        self._bdat_buffer: memoryview | None = None  # made at the first BDAT, kept for the next
        self.authenticated_as: str | None = None

    def end(self) -> None:
        """The session is over (the driver closed its connection, or must now)."""
        self.open = False
        self.encrypted = False
        self.authenticated_as = None

    # --- opening -------------------------------------------------------------

    def opening(self, stop_after: ConnectStage | None = None) -> Steps[None]:
        """Connect; greeting, EHLO, and TLS as ``tls`` asks; on any error the session ends.

        ``stop_after`` ends the opening early, for a test of the server (swaks'
        ``--quit-after``): ``"greeting"`` after the 220, ``"ehlo"`` after the
        first EHLO (before STARTTLS). The session is then not ready to send.
        """
        if self.open:
            raise UsageError("already connected")
        try:
            local = yield Connect(self.host, self.port)
        except (OSError, UnicodeError) as exc:  # UnicodeError: a host name IDNA refuses
            why = _why(exc)
            raise ConnectionFailed(f"cannot connect to {self.host}:{self.port}: {why}") from None
        assert isinstance(local, str)
        self.open, self.encrypted, self._dirty = True, False, False
        self._parser, self.extensions, self.extensions_before_tls = (
            ReplyParser(),
            Extensions.none(),
            None,
        )
        self._replies.clear()
        try:
            if self.tls == "implicit":
                yield from self._start_tls()
            self._expect((yield from self._read("the greeting")), 220, "the session")
            if stop_after == "greeting":
                return
            yield from self._ehlo(local)
            if self.tls == "starttls" and stop_after != "ehlo":
                yield from self._starttls(local)
        except BaseException:
            self.end()
            raise

    def _starttls(self, local: str) -> Steps[None]:
        if "STARTTLS" not in self.extensions:
            raise TLSRequired(
                f"{self.host} does not offer STARTTLS; use tls='none' to go on without TLS"
            )
        yield from self._send_line("STARTTLS")
        self._expect((yield from self._read("STARTTLS")), 220, "STARTTLS")
        if self._replies or not self._parser.idle:
            raise SMTPProtocolError(
                f"{self.host} sent more after its STARTTLS 220 reply, before TLS "
                "(STARTTLS response injection); connection closed"
            )
        self.extensions_before_tls = self.extensions
        yield from self._start_tls()
        yield from self._ehlo(local)

    def tls_context(self) -> ssl.SSLContext:
        """The context the handshake uses: the one given, or the default one (``cafile``)."""
        if self._context is not None:
            return self._context
        context = ssl.create_default_context(cafile=self._cafile)
        if self._insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _start_tls(self) -> Steps[None]:
        try:
            yield StartTLS(self.tls_context(), self.host)
        except OSError as exc:  # ssl.SSLError and certificate errors included
            raise ConnectionFailed(f"TLS handshake with {self.host} failed: {_why(exc)}") from None
        self.encrypted = True
        # Nothing read before TLS survives it.
        self._parser = ReplyParser()
        self._replies.clear()
        self.extensions = Extensions.none()

    def _ehlo(self, local: str) -> Steps[None]:
        """EHLO with our name, or the RFC 5321 4.1.3 address literal of our end (no DNS)."""
        name = self._local_hostname or (f"[IPv6:{local}]" if ":" in local else f"[{local}]")
        yield from self._send_line(command("EHLO", name))
        reply = yield from self._read("EHLO")
        self.extensions = Extensions.parse(self._expect(reply, 250, "EHLO"))

    def quit(self) -> Steps[None]:
        """Say QUIT; a server that hangs up first is no error. The session ends."""
        try:
            yield from self._send_line("QUIT")
            yield from self._read("QUIT")
        except SMTPError:
            pass
        finally:
            self.end()

    # --- AUTH (RFC 4954) -----------------------------------------------------

    def login(
        self,
        username: str,
        password: str,
        *,
        binding: Callable[[], ChannelBinding | None] = lambda: None,
        authzid: str = "",
        mechanisms: Sequence[str] | None = None,
        require_tls: bool = True,
        allow_plaintext: bool = False,
        anonymous: bool = False,
        **options: object,
    ) -> Steps[str]:
        """Authenticate with the strongest usable mechanism; its name.

        ``mechanisms`` limits the choice (the server's AUTH list still decides
        what is offered); ``options`` are further ``ClientOptions`` fields. A
        ``token`` option makes the OAuth mechanisms usable, a password the others,
        ``anonymous=True`` ANONYMOUS (its ``trace`` option is the trace information).
        ``binding`` gives this connection's channel binding, asked for only
        when the session is encrypted; whether the server offered a -PLUS
        mechanism comes from the registry's ``Choice``.
        """
        self._require_session()
        if require_tls and not self.encrypted:
            raise TLSRequired(
                f"refusing to send credentials to {self.host} without TLS "
                "(login(require_tls=False) to allow it)"
            )
        if not self.extensions.auth:
            raise PolicyRefused(f"{self.host} offers no AUTH mechanism (no AUTH in its EHLO reply)")
        plan = plan_login(
            self._registry,
            self.extensions.auth,
            encrypted=self.encrypted,
            username=username,
            password=password,
            service=smtp_profile.PROFILE.service,
            host=self.host,
            options=options,
            authzid=authzid,
            binding=binding() if self.encrypted else None,
            allow_plaintext=allow_plaintext,
            allow=mechanisms,
            anonymous=anonymous,
        )
        reasons = dict(plan.choice.passed_over)
        if not plan.choice.usable:
            raise self._no_usable(reasons)
        refused: Reply | None = None
        for name, mechanism in plan:
            outcome = yield from self._authenticate(name, mechanism)
            if isinstance(outcome, str):
                reasons[name] = outcome
                continue
            if outcome is not None:
                refused = outcome
                reasons[name] = f"the server refused it ({outcome})"
                continue
            self.authenticated_as = username
            return name
        if refused is None:
            raise self._no_usable(reasons)
        raise CommandRejected(
            f"{self.host} refused every usable AUTH mechanism{_reasons(reasons)}",
            code=refused.code,
            text=refused.text,
        )

    def _no_usable(self, reasons: dict[str, str]) -> NoUsableMechanism:
        return NoUsableMechanism(
            f"no usable AUTH mechanism at {self.host}{_reasons(reasons)}",
            offered=tuple(self.extensions.auth),
            passed_over=reasons,
        )

    def _authenticate(self, name: str, mechanism: ClientMechanism) -> Steps[Reply | str | None]:
        """One AUTH exchange: ``None`` on success, the 504/534 reply to move on,
        a reason string when the mechanism could not start; raises otherwise."""
        auth = smtp_profile.PROFILE.client(name, mechanism)
        result = yield from self.authenticate(auth)
        if not auth.transcript:
            return f"could not start: {result.error}"
        if result.outcome is Outcome.SUCCESS:
            return None
        if result.outcome is Outcome.CANCELLED:
            if result.code == "235":
                self.end()
                raise MutualAuthenticationFailed(
                    f"{self.host} reported AUTH {name} success before the mechanism finished: "
                    "the server did not prove itself; connection closed"
                )
            if isinstance(result.error, ProtocolViolation):
                raise SMTPProtocolError(f"{self.host}, AUTH {name}: {result.error}")
            assert result.error is not None
            raise result.error
        reply = Reply(int(result.code), (result.text,))
        if result.outcome is Outcome.REFUSED:
            return reply
        if result.outcome is Outcome.REJECTED:
            reason = mechanism.server_reason
            raise CredentialsRejected(
                f"{self.host} rejected the credentials (AUTH {name}: {reply})"
                + (f"; its {name} error: {reason}" if reason else ""),
                code=reply.code,
                text=reply.text,
            )
        if result.outcome is Outcome.TLS_REQUIRED:
            raise TLSRequired(
                f"{self.host} requires TLS for AUTH {name} ({reply})",
                code=reply.code,
                text=reply.text,
            )
        raise _refusal(f"AUTH {name}", reply, self.host)

    def authenticate(self, auth: ClientAuth) -> Steps[Result]:
        """Run one exchange of the SMTP profile (``sasl_kit.protocols.smtp``); its
        lines go to the transcript as they pass. No mechanism is chosen and no
        policy checked here: ``login`` does both."""
        self._require_session()
        if self._replies or not self._parser.idle:
            self.end()
            raise SMTPProtocolError(f"{self.host} sent replies nobody asked for before AUTH")
        logged = 0

        def log() -> None:
            nonlocal logged
            for line in auth.transcript[logged:]:
                self._log(line.redacted.rstrip(), str(line).rstrip())
            logged = len(auth.transcript)

        what = f"AUTH {auth.name}"
        try:
            yield from self._write(auth.start(), what)
            log()
            while auth.result is None:
                out = auth.receive((yield from self._recv(what)))
                log()
                yield from self._write(out, "an AUTH response")
        except ProtocolViolation as exc:
            log()
            self.end()
            raise SMTPProtocolError(f"{self.host} broke {what}: {exc}") from None
        self._replies.extend(self._parser.feed(auth.leftover))
        return auth.result

    # --- sending -------------------------------------------------------------

    def send(
        self, message: OutgoingMessage, *, dsn: DSN | None = None, progress: Progress | None = None
    ) -> Steps[SendResult]:
        """Send one message; the result says what the server did with it.

        Raises ``OutcomeUnknown`` when the link failed after the data and before
        the final reply, ``ConnectionFailed`` when it failed any earlier.
        ``progress(done, total)`` is called as the data goes out: the bytes of
        ``chunks()`` taken for sending so far (BDAT holds up to ``BDAT_CHUNK``
        of them back), and ``size()``.
        """
        self._require_session()
        prepared = self._prepare(message, dsn)
        if isinstance(prepared, SendResult):
            return prepared
        chunks, mail, rcpts = prepared
        bdat = "CHUNKING" in self.extensions
        if bdat and self._fits_with_envelope(message):
            return (yield from self._send_with_envelope(message, chunks, mail, rcpts, progress))
        replies = yield from self._envelope(mail, rcpts, message.recipients, data=not bdat)
        recipients, refused = self._envelope_outcome(message.recipients, replies)
        if refused is not None:
            yield from self._end_empty_data(replies[2])
            return refused
        report = Report(progress, message.size() if progress is not None else 0)
        try:
            if bdat:
                return (yield from self._send_bdat(message, chunks, recipients, report))
            return (yield from self._send_data(message, chunks, recipients, replies[2], report))
        except BaseException:
            # Stopped inside the data (a file changed, the message misstated its
            # size, an interrupt): the server holds part of a message, and the
            # next command would land in it. Only closing discards it.
            self.end()
            raise

    def send_many(
        self,
        messages: Iterable[M],
        *,
        dsn: DSN | None = None,
        on_result: Callable[[M, SendResult], None] | None = None,
    ) -> Steps[list[SendResult]]:
        """Send each of ``messages`` in turn on this session; a ``SendResult`` for each,
        in order, each exactly what ``send`` gives for it.

        ``messages`` may be any iterable (a generator: a message is taken only
        when its turn comes, at most one ahead). With PIPELINING and DATA (no
        CHUNKING) the end of one message's data and the next one's MAIL, RCPT
        and DATA go in one write (RFC 2920 3.1): a message costs one round
        trip, not two. Otherwise each is sent as ``send`` sends it (with
        CHUNKING a small message already goes with its envelope).
        ``on_result(message, result)`` is called as each result is decided.

        A refusal (by the server or here) is a result and the batch goes on.
        Anything ``send`` raises stops the batch with ``BatchStopped``: its
        ``results`` and ``unsent`` account for every message taken, its
        ``error`` is what ``send`` raised (``OutcomeUnknown``: the last result
        is ``unknown``). The session stays open when ``send`` would keep it.
        """
        self._require_session()
        batch = _Batch(iter(messages), on_result)
        try:
            if "PIPELINING" in self.extensions and "CHUNKING" not in self.extensions:
                yield from self._pipelined(batch, dsn)
            else:
                while (message := batch.take()) is not None:
                    batch.record((yield from self.send(message, dsn=dsn)))
        except Exception as exc:
            raise batch.stopped(exc) from exc
        return batch.results

    def _pipelined(self, batch: _Batch[M], dsn: DSN | None) -> Steps[None]:
        """``send_many`` with PIPELINING and DATA: a message's end of data and the next
        one's MAIL, RCPT and DATA go in one write (RFC 2920 3.1); then its final reply
        is read, then the next one's envelope replies. No RSET goes before that MAIL:
        a final reply ends the transaction, whatever it says (RFC 5321 4.1.1.4).

        The next message is taken and made ready before the data goes: one that
        raises (no recipient, a file gone) is raised once the message before it
        has its result, as ``send`` would raise it with a clean session.
        """
        ahead: tuple[M, Iterator[bytes], Envelope] | None = None
        while True:
            if ahead is None:
                message = batch.take()
                if message is None:
                    return
                prepared = self._prepare(message, dsn)
                if isinstance(prepared, SendResult):
                    batch.record(prepared)
                    continue
                chunks, mail, rcpts = prepared
                replies = yield from self._envelope(mail, rcpts, message.recipients, data=True)
            else:
                message, chunks, replies = ahead
            recipients, refused = self._envelope_outcome(message.recipients, replies)
            if refused is not None:
                yield from self._end_empty_data(replies[2])
                batch.record(refused)
                ahead = None
                continue
            following, local, group, held = None, None, [], None
            try:
                following = batch.take()
                if following is not None:
                    ready = self._prepare(following, dsn)
                    if isinstance(ready, SendResult):
                        local = ready
                    else:
                        next_chunks, next_mail, next_rcpts = ready
                        group = [next_mail, *next_rcpts, "DATA"]
            except Exception as exc:  # raised once this message has its result
                held = exc
            try:
                result = yield from self._send_data(
                    message, chunks, recipients, replies[2], Report(None, 0), group
                )
            except BaseException:
                self.end()  # as in ``send``: stopped inside the data
                raise
            try:
                batch.record(result)
            except BaseException:
                if group:  # the next envelope's replies are on their way, unread
                    self.end()
                raise
            ahead = None
            if group:
                assert following is not None
                self._dirty = True  # the final reply ended one transaction; MAIL began the next
                next_replies = yield from self._read_envelope(following.recipients, data=True)
                ahead = (following, next_chunks, next_replies)
            elif local is not None:
                batch.record(local)
            if held is not None:
                raise held

    def _prepare(
        self, message: OutgoingMessage, dsn: DSN | None
    ) -> SendResult | tuple[Iterator[bytes], str, tuple[str, ...]]:
        """The message refused here (a local ``SendResult``), or its chunks, MAIL and
        RCPT lines."""
        if not message.recipients:
            raise UsageError("a message needs at least one recipient")
        utf8 = message.smtputf8 or not (
            message.sender.isascii() and all(map(str.isascii, message.recipients))
        )
        reason, size = self._local_refusal(message, dsn, utf8)
        if reason:
            refused = tuple(RecipientResult(a, None, reason) for a in message.recipients)
            return SendResult(Status.REJECTED, refused, None, reason, local=True)
        # Asked for before MAIL: a message that can tell it cannot be sent says so while
        # the session is still clean (sasl_kit.mail checks its files here).
        chunks = message.chunks()
        params = _mail_params(size, message.eight_bit, dsn, utf8)
        mail = command("MAIL", f"FROM:<{message.sender}>", *params)
        rcpts = tuple(
            command("RCPT", f"TO:<{a}>", *_rcpt_params(a, dsn)) for a in message.recipients
        )
        return chunks, mail, rcpts

    def _envelope_outcome(
        self, addresses: tuple[str, ...], replies: Envelope
    ) -> tuple[tuple[RecipientResult, ...], SendResult | None]:
        """A row per recipient, and the result when the envelope ends the message
        (MAIL refused, no recipient taken, a pipelined DATA refused: then
        ``_end_empty_data``)."""
        mail_reply, rcpt_replies, data_reply = replies
        recipients = tuple(
            RecipientResult.from_reply(a, r, "not tried: MAIL FROM was refused")
            for a, r in zip(addresses, rcpt_replies, strict=True)
        )
        if mail_reply.code // 100 != 2:
            refused = SendResult(
                Status.of([mail_reply]), recipients, mail_reply.code, mail_reply.text
            )
            return recipients, refused
        if not any(r.accepted for r in recipients):
            nobody = "no recipient was accepted"
            return recipients, SendResult(Status.of(rcpt_replies), recipients, None, nobody)
        if data_reply is not None and data_reply.code != 354:
            return recipients, SendResult(
                Status.of([data_reply]), recipients, data_reply.code, data_reply.text
            )
        return recipients, None

    def _fits_with_envelope(self, message: OutgoingMessage) -> bool:
        """Whether the message goes in one write with its envelope: PIPELINING, a
        CRLF-only message of at most ``WITH_ENVELOPE`` bytes (and one chunk), no RSET due (a
        refused RSET could not tell what became of a message already sent)."""
        return (
            "PIPELINING" in self.extensions
            and not self._dirty
            and data.crlf_only(message)
            and message.size() <= min(WITH_ENVELOPE, data.BDAT_CHUNK)
        )

    def _send_with_envelope(
        self,
        message: OutgoingMessage,
        chunks: Iterator[bytes],
        mail: str,
        rcpts: Sequence[str],
        progress: Progress | None,
    ) -> Steps[SendResult]:
        """MAIL, every RCPT and ``BDAT <size> LAST`` with the message, in one write.

        RFC 2920 3.1 lets the last command of a group be an extension's, and
        RFC 3030 2 has a server that refuses the BDAT (no valid recipient)
        read and discard its data: a small message then costs one round trip,
        not two. The message is read whole first (at most ``WITH_ENVELOPE``
        bytes), so a message that cannot be read or misstates its size stops
        before anything is sent. Once it is out, a link lost before the final
        reply is ``OutcomeUnknown``, unless MAIL's reply, already read, was a
        refusal: then nothing can be delivered.
        """
        size = message.size()
        encoder = DataEncoder(dot_stuff=False, crlf_only=True)
        wire = data.wire(chunks, encoder, Report(progress, size))
        ((_, _, parts),) = data.declared_chunks(wire, size)
        body = b"".join(parts)  # the one chunk; declared_chunks checks the size
        self._dirty = True
        yield from self._send_lines([mail, *rcpts, f"BDAT {size} LAST"], body)
        if self._traced():
            self._log(f"C: <message data, {size} bytes>")
        addresses = message.recipients
        replies: list[Reply] = []
        try:
            replies.append((yield from self._read("MAIL FROM")))
            for a in addresses:
                replies.append((yield from self._read(f"RCPT TO:<{a}>")))
        except (ConnectionFailed, SMTPProtocolError) as exc:
            if replies and replies[0].code // 100 != 2:
                raise  # MAIL was refused: nothing can be delivered
            read: list[Reply | None] = [*replies[1:], *[None] * len(addresses)]
            rows = tuple(
                RecipientResult.from_reply(a, r, "no reply could be read")
                for a, r in zip(addresses, read, strict=False)
            )
            raise OutcomeUnknown(
                f"the whole message went to {self.host} with its envelope, but not every reply "
                f"could be read ({exc}): it may have been accepted; a retry may deliver it twice",
                result=SendResult(Status.UNKNOWN, rows, None, str(exc)),
            ) from None
        mail_reply, rcpt_replies = replies[0], replies[1:]
        recipients = tuple(
            RecipientResult.from_reply(a, r, "not tried: MAIL FROM was refused")
            for a, r in zip(addresses, rcpt_replies, strict=True)
        )
        if mail_reply.code // 100 != 2 or not any(r.accepted for r in recipients):
            with contextlib.suppress(ConnectionFailed, SMTPProtocolError):
                yield from self._read("the BDAT of a message nobody takes")
            if mail_reply.code // 100 != 2:
                return SendResult(
                    Status.of([mail_reply]), recipients, mail_reply.code, mail_reply.text
                )
            return SendResult(
                Status.of(list(rcpt_replies)), recipients, None, "no recipient was accepted"
            )
        return (yield from self._final(recipients, "BDAT LAST"))

    def check_envelope(
        self,
        sender: str,
        recipients: Sequence[str] = (),
        *,
        dsn: DSN | None = None,
    ) -> Steps[EnvelopeResult]:
        """MAIL FROM (and RCPT TO for each of ``recipients``), then RSET: what the
        server would accept, with no message sent (swaks' ``--quit-after mail|rcpt``)."""
        self._require_session()
        utf8 = not all(a.isascii() for a in (sender, *recipients))
        params = ["SMTPUTF8"] if utf8 and "SMTPUTF8" in self.extensions else []
        if dsn is not None and dsn.ret is not None:
            params.append(f"RET={dsn.ret}")
        if dsn is not None and dsn.envid is not None:
            params.append(f"ENVID={xtext(dsn.envid)}")
        mail = command("MAIL", f"FROM:<{sender}>", *params)
        rcpts = [command("RCPT", f"TO:<{a}>", *_rcpt_params(a, dsn)) for a in recipients]
        mail_reply, rcpt_replies, _ = yield from self._envelope(
            mail, rcpts, tuple(recipients), data=False
        )
        rows = tuple(
            RecipientResult.from_reply(a, r, "not tried: MAIL FROM was refused")
            for a, r in zip(recipients, rcpt_replies, strict=True)
        )
        yield from self._send_line("RSET")
        self._expect((yield from self._read("RSET")), 250, "RSET")
        self._dirty = False
        return EnvelopeResult(mail_reply.code, mail_reply.text, rows)

    def _envelope(
        self, mail: str, rcpts: Sequence[str], addresses: tuple[str, ...], *, data: bool
    ) -> Steps[Envelope]:
        """MAIL and every RCPT (and DATA, with PIPELINING): their replies, in order.

        An RCPT never sent (MAIL refused, no PIPELINING) has ``None``; so has
        DATA when it was not sent with the group.
        """
        reset, self._dirty = self._dirty, True
        if "PIPELINING" in self.extensions:
            # RFC 2920 3.1: RSET, MAIL and RCPT anywhere in a group; DATA last.
            group = [*(["RSET"] if reset else []), mail, *rcpts, *(["DATA"] if data else [])]
            yield from self._send_lines(group)
            if reset:
                self._expect((yield from self._read("RSET")), 250, "RSET")
            return (yield from self._read_envelope(addresses, data=data))
        if reset:
            yield from self._send_line("RSET")
            self._expect((yield from self._read("RSET")), 250, "RSET")
        yield from self._send_line(mail)
        mail_reply = yield from self._read("MAIL FROM")
        rcpt_replies: list[Reply | None] = [None] * len(rcpts)
        if mail_reply.code // 100 == 2:
            for i, (line, address) in enumerate(zip(rcpts, addresses, strict=True)):
                yield from self._send_line(line)
                rcpt_replies[i] = yield from self._read(f"RCPT TO:<{address}>")
        return mail_reply, rcpt_replies, None

    def _send_data(
        self,
        message: OutgoingMessage,
        chunks: Iterator[bytes],
        recipients: tuple[RecipientResult, ...],
        data_reply: Reply | None,
        report: Report,
        then: Sequence[str] = (),
    ) -> Steps[SendResult]:
        """DATA (unless it went with the group), 354, the dot-stuffed message, the final reply.

        ``then``: the next message's envelope, in the write that ends this data (``send_many``).
        """
        if data_reply is None:
            yield from self._send_line("DATA")
            data_reply = yield from self._read("DATA")
        if data_reply.code != 354:
            return SendResult(Status.of([data_reply]), recipients, data_reply.code, data_reply.text)
        encoder = DataEncoder(dot_stuff=True, crlf_only=data.crlf_only(message))
        tail = _lines(then) if then else b""
        sent = -len(tail)
        for piece in data.coalesced(data.wire(chunks, encoder, report), data.COALESCE, tail):
            sent += yield from self._write(piece, "the message data")
        if self._traced():
            self._log(f"C: <message data, {sent} bytes, dot-stuffed, ending with '.'>")
            for line in then:
                self._log(f"C: {line}")
        return (yield from self._final(recipients, "the end of the data"))

    def _send_bdat(
        self,
        message: OutgoingMessage,
        chunks: Iterator[bytes],
        recipients: tuple[RecipientResult, ...],
        report: Report,
    ) -> Steps[SendResult]:
        """RFC 3030: BDAT chunks of ``BDAT_CHUNK`` bytes, each answered; the last has LAST.

        A chunk's size goes before its data. A ``crlf_only`` message goes out
        exactly as ``chunks()`` yields it, so ``size()`` is its wire size: the
        chunks are declared from it and the pieces written as they come,
        uncopied. Any other message is gathered chunk by chunk in one buffer,
        kept by the session for the next message. With PIPELINING a chunk goes
        out before the reply to the one before it is read, so the client never
        idles while the server reads; RFC 3030 2 has the server discard a chunk
        already on its way after a refusal. The last reply before LAST is read
        before LAST is sent, so a link lost there is never mistaken for a lost
        final reply.
        """
        vouched = data.crlf_only(message)
        encoder = DataEncoder(dot_stuff=False, crlf_only=vouched)
        wire = data.wire(chunks, encoder, report)
        if vouched:
            pieces = data.declared_chunks(wire, message.size())
        else:
            if self._bdat_buffer is None:
                self._bdat_buffer = memoryview(bytearray(data.BDAT_CHUNK))
            pieces = data.gathered_chunks(wire, self._bdat_buffer)
        pipelined = "PIPELINING" in self.extensions
        unanswered = False  # a chunk went out whose reply is unread (PIPELINING only)
        for size, last, parts in pieces:
            if last and unanswered:
                refused = yield from self._bdat_refused(recipients, in_flight=False)
                if refused:
                    return refused
            yield from self._send_line(f"BDAT {size}" + (" LAST" if last else ""))
            for part in parts:
                yield from self._write(part, "the message data")
            if self._traced():
                self._log(f"C: <message data, {size} bytes>")
            if last:
                break
            if unanswered or not pipelined:  # with PIPELINING, wait for the chunk before
                refused = yield from self._bdat_refused(recipients, in_flight=unanswered)
                if refused:
                    return refused
            unanswered = pipelined
        return (yield from self._final(recipients, "BDAT LAST"))

    def _bdat_refused(
        self, recipients: tuple[RecipientResult, ...], *, in_flight: bool
    ) -> Steps[SendResult | None]:
        """The reply to the oldest unanswered BDAT chunk: None when 2xx, else the failed result.

        ``in_flight``: one more chunk is on its way; after a refusal its reply
        is read and dropped (the server discards that chunk, RFC 3030 2).
        """
        reply = yield from self._read("BDAT")
        if reply.code // 100 == 2:
            return None
        if in_flight:
            with contextlib.suppress(ConnectionFailed, SMTPProtocolError):
                yield from self._read("the BDAT chunk sent after a refused one")
        return SendResult(Status.of([reply]), recipients, reply.code, reply.text)

    def _final(self, recipients: tuple[RecipientResult, ...], what: str) -> Steps[SendResult]:
        """The reply that decides: only a 2xx here means sent."""
        try:
            reply = yield from self._read(what)
        except (ConnectionFailed, SMTPProtocolError) as exc:
            result = SendResult(Status.UNKNOWN, recipients, None, str(exc))
            raise OutcomeUnknown(
                f"the whole message went to {self.host} but no final reply could be read ({exc}): "
                "it may have been accepted; a retry may deliver it twice",
                result=result,
            ) from None
        if reply.code // 100 == 3:
            self.end()
            result = SendResult(Status.UNKNOWN, recipients, reply.code, reply.text)
            raise OutcomeUnknown(
                f"{self.host} answered {what} with {reply}, which decides nothing; "
                "connection closed",
                result=result,
            )
        self._dirty = False
        if reply.code // 100 != 2:
            return SendResult(Status.of([reply]), recipients, reply.code, reply.text)
        status = Status.SENT if all(r.accepted for r in recipients) else Status.PARTIAL
        return SendResult(status, recipients, reply.code, reply.text)

    def _end_empty_data(self, data_reply: Reply | None) -> Steps[None]:
        """RFC 2920 3.1: a pipelined DATA that got 354 with no recipient gets an empty message."""
        if data_reply is not None and data_reply.code == 354:
            yield from self._send_line(".")
            yield from self._read("the empty DATA")

    def _local_refusal(
        self, message: OutgoingMessage, dsn: DSN | None, utf8: bool
    ) -> tuple[str, int | None]:
        """A reason to refuse before saying MAIL (and the size, when the server takes SIZE)."""
        ext = self.extensions
        size = message.size() if "SIZE" in ext else None
        if size is not None and (limit := ext.size) is not None and size > limit:
            return f"the message is {size} bytes; {self.host} accepts at most {limit}", size
        if utf8 and "SMTPUTF8" not in ext:
            return f"the message needs SMTPUTF8, which {self.host} does not offer", size
        if message.eight_bit and "8BITMIME" not in ext:
            return f"the message is 8-bit, and {self.host} does not offer 8BITMIME", size
        if dsn is not None and "DSN" not in ext:
            return f"DSN options were given, and {self.host} does not offer DSN", size
        return "", size

    # --- the steps, and what their failures mean ------------------------------

    def _require_session(self) -> None:
        if not self.open:
            raise UsageError("not connected: call connect() or use the client as a context manager")

    def _send_line(self, line: str) -> Steps[int]:
        return self._send_lines((line,))

    def _send_lines(self, lines: Sequence[str], payload: bytes = b"") -> Steps[int]:
        """Write the lines (and ``payload`` after them) as one step: a PIPELINING group
        is one write. (Not a generator itself: the lines are traced when the call is
        made, and the write is ``_write``'s step, with no layer between.)"""
        if self._traced():
            for line in lines:
                self._log(f"C: {line}")
        what = lines[0].partition(" ")[0]
        text = _lines(lines)
        return self._write(text + payload if payload else text, what)

    def _write(self, data: bytes | memoryview, what: str) -> Steps[int]:
        if not data:
            return 0
        try:
            yield Write(data)
        except OSError as exc:
            self.end()
            raise ConnectionFailed(
                f"connection to {self.host} lost sending {what}: {_why(exc)}"
            ) from None
        except BaseException:  # an interrupt: what went out is unknown
            self.end()
            raise
        return len(data)

    def _read(self, what: str) -> Steps[Reply]:
        """The next reply; the link failing or the server hanging up is ``ConnectionFailed``."""
        while not self._replies:
            self._feed((yield from self._recv(what)))
        reply = self._replies.popleft()
        if self._traced():
            self._trace(reply)
        return reply

    def _feed(self, received: bytes) -> None:
        """The replies in what was read, queued; a line that is no reply ends the session."""
        try:
            self._replies.extend(self._parser.feed(received))
        except SMTPProtocolError:
            self.end()
            raise

    def _read_envelope(self, addresses: tuple[str, ...], *, data: bool) -> Steps[Envelope]:
        """The replies to a pipelined MAIL, every RCPT (and DATA), in order, in one
        generator (what ``_read`` does for each, without a generator per reply): they
        usually come in one read."""
        replies, traced, read = self._replies, self._traced(), []
        for i in range(1 + len(addresses) + data):
            while not replies:  # what the reply answers, named only when it must be waited for
                rcpt = 0 < i <= len(addresses)
                what = f"RCPT TO:<{addresses[i - 1]}>" if rcpt else "DATA" if i else "MAIL FROM"
                self._feed((yield from self._recv(what)))
            reply = replies.popleft()
            if traced:
                self._trace(reply)
            read.append(reply)
        rcpt_replies: list[Reply | None] = list(read[1 : 1 + len(addresses)])
        return read[0], rcpt_replies, read[-1] if data else None

    def _trace(self, reply: Reply) -> None:
        for i, text in enumerate(reply.lines):
            separator = "-" if i < len(reply.lines) - 1 else " "
            self._log(f"S: {reply.code}{separator}{text}".rstrip())

    def _recv(self, what: str) -> Steps[bytes]:
        """Bytes from the server; none (the link failing, a hang-up) is ``ConnectionFailed``."""
        if not self.open:
            raise ConnectionFailed(f"connection to {self.host} closed before the reply to {what}")
        try:
            received = yield RECV
        except TimeoutError:
            self.end()
            raise ConnectionFailed(
                f"no reply to {what} from {self.host} within {self.timeout:g} s"
            ) from None
        except OSError as exc:
            self.end()
            raise ConnectionFailed(
                f"connection to {self.host} lost waiting for the reply to {what}: {_why(exc)}"
            ) from None
        except BaseException:  # an interrupt: the reply may come later, unread
            self.end()
            raise
        if not received:
            self.end()
            raise ConnectionFailed(f"{self.host} closed the connection before replying to {what}")
        assert isinstance(received, bytes)
        return received

    def _expect(self, reply: Reply, code: int, what: str) -> Reply:
        if reply.code != code:
            self.end()
            raise _refusal(what, reply, self.host)
        return reply

    def _traced(self) -> bool:
        """Whether anyone reads the transcript: else its lines are not even made."""
        return self._transcript is not None or logger.isEnabledFor(logging.DEBUG)

    def _log(self, line: str, unredacted: str | None = None) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s", line)
        if self._transcript is not None:
            self._transcript(line if self._redact or unredacted is None else unredacted)


class _Batch(Generic[M]):
    """One ``send_many``'s bookkeeping: its results in order, and the messages taken
    from the iterable that have none yet."""

    def __init__(
        self, messages: Iterator[M], on_result: Callable[[M, SendResult], None] | None
    ) -> None:
        self._messages, self._on_result = messages, on_result
        self.results: list[SendResult] = []
        self._pending: deque[M] = deque()

    def take(self) -> M | None:
        """The next message, or ``None`` at the end."""
        message = next(self._messages, None)
        if message is not None:
            self._pending.append(message)
        return message

    def record(self, result: SendResult) -> None:
        """``result`` is the oldest pending message's."""
        message = self._pending.popleft()
        self.results.append(result)
        if self._on_result is not None:
            self._on_result(message, result)

    def stopped(self, error: Exception) -> BatchStopped:
        if isinstance(error, OutcomeUnknown) and self._pending:
            self._pending.popleft()
            self.results.append(error.result)
        unsent = tuple(self._pending)
        return BatchStopped(
            f"the batch stopped with {len(self.results)} results and {len(unsent)} messages "
            f"taken but not sent: {error}",
            results=self.results,
            unsent=unsent,
            error=error,
        )


def _lines(lines: Sequence[str]) -> bytes:
    """Command lines as they go on the wire."""
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _mail_params(size: int | None, eight_bit: bool, dsn: DSN | None, utf8: bool) -> list[str]:
    params = [] if size is None else [f"SIZE={size}"]
    if eight_bit:
        params.append("BODY=8BITMIME")
    if utf8:
        params.append("SMTPUTF8")
    if dsn is not None and dsn.ret is not None:
        params.append(f"RET={dsn.ret}")
    if dsn is not None and dsn.envid is not None:
        params.append(f"ENVID={xtext(dsn.envid)}")
    return params


def _rcpt_params(address: str, dsn: DSN | None) -> list[str]:
    if dsn is None:
        return []
    params = [f"NOTIFY={','.join(dsn.notify)}"] if dsn.notify else []
    if dsn.orcpt:
        # RFC 3461 4.2 for ASCII addresses; RFC 6533 3 ("utf-8" type) for the others.
        params.append(
            f"ORCPT=rfc822;{xtext(address)}"
            if address.isascii()
            else f"ORCPT=utf-8;{utf8_addr_xtext(address)}"
        )
    return params


def _refusal(what: str, reply: Reply, host: str) -> SMTPError:
    """The error for a session command the server answered with something else than hoped."""
    if reply.transient:
        return TemporaryFailure(
            f"{host} refused {what} for now ({reply})", code=reply.code, text=reply.text
        )
    if reply.code >= 500:
        return CommandRejected(f"{host} refused {what} ({reply})", code=reply.code, text=reply.text)
    return SMTPProtocolError(
        f"{host} answered {what} with an unexpected {reply}", code=reply.code, text=reply.text
    )


def _why(exc: BaseException) -> str:
    """An exception's text; asyncio's timeouts have none."""
    return str(exc) or ("timed out" if isinstance(exc, TimeoutError) else type(exc).__name__)


def _reasons(reasons: dict[str, str]) -> str:
    return " (" + "; ".join(f"{n}: {why}" for n, why in reasons.items()) + ")" if reasons else ""
