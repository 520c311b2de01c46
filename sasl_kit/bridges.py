"""Bridges: any registry mechanism inside the standard library's mail clients.

Rules of this module:
- A bridge moves bytes between a library object (``smtplib.SMTP``,
  ``imaplib.IMAP4``, ``poplib.POP3``) and a mechanism object, and nothing more:
  nothing about a mechanism lives here, and which mechanism runs is the
  registry's decision (``login_plan.plan_login``) unless the caller limits it.
- The server's refusal surfaces as the library's own exception
  (``smtplib.SMTPAuthenticationError``, ``imaplib.IMAP4.error``,
  ``poplib.error_proto``), which is what callers of those libraries handle.
  What the mechanism finds wrong is its ``SASLError``, raised after the
  exchange was cancelled with ``*`` (RFC 4954 4, RFC 3501 6.2.2, RFC 5034 4),
  so the session stays usable.
- A server that reports success before the mechanism has verified it
  (SCRAM's server signature, DIGEST-MD5's ``rspauth``) is
  ``MutualAuthenticationFailed``: the caller should close that session.
- What a library cannot carry is a ``UsageError`` naming the limit, never a
  garbled exchange: ``smtplib.SMTP.auth`` sends only ASCII and at most five
  responses.

Theory of operation: none of these protocols has "additional data with
success" (RFC 4422 3.6), so a server sends it as one more challenge, which the
finished-to-be mechanism verifies and answers with an empty response.
``imaplib`` has no SASL-IR: the initial response of a client-first mechanism
answers the server's first, empty ``+`` continuation. smtplib and imaplib
frame the exchange themselves (base64, ``334``/``+``); ``Exchange`` only steps
the mechanism by the rules every profile follows. ``poplib`` has no AUTH at
all: ``pop3_auth`` runs the POP3 profile (``sasl_kit.protocols.pop3``) on
poplib's line I/O, framing and outcome included.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
from collections.abc import Collection, Iterable
from typing import Any, cast, overload

from sasl_kit.errors import MalformedMessage, MutualAuthenticationFailed, SASLError, UsageError
from sasl_kit.login_plan import plan_login
from sasl_kit.mechanisms.base import ChannelBinding, ClientMechanism
from sasl_kit.protocols import pop3 as pop3_profile
from sasl_kit.protocols.base import Outcome
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.registry import Registry, default_registry

SMTPLIB_MAX_ROUNDS = 5  # smtplib._MAXCHALLENGE: responses per AUTH, the initial one included
POP3_MAX_LINE = 2048  # poplib._MAXLINE: a longer reply line is an error


class Exchange:
    """One mechanism's side of an exchange: challenge bytes in, response bytes out.

    The initial response of a client-first mechanism either goes with the
    command (``initial_response``) or, held back, answers the server's first,
    empty challenge (``hold``, or simply ``respond`` without ``initial_response``).
    """

    def __init__(self, name: str, mechanism: ClientMechanism) -> None:
        self.name = name
        self.mechanism = mechanism
        self._started = False
        self._held: bytes | None = None

    def initial_response(self) -> bytes | None:
        """Start the mechanism: its first message, or ``None`` when the server speaks first."""
        if self._started or not self.mechanism.client_first:
            return None
        self._started = True
        return self.mechanism.step(b"") or b""

    def hold(self, initial: bytes) -> None:
        """The initial response did not fit the command; it answers the first challenge."""
        self._held = initial

    @property
    def reason(self) -> str:
        """``"; its NAME error: ..."`` to add to the server's refusal, when the mechanism
        kept the server's own account of it (an OAuth error challenge's JSON status:
        the protocol's refusal alone says little); else ``""``."""
        reason = self.mechanism.server_reason
        return f"; its {self.name} error: {reason}" if reason else ""

    def respond(self, challenge: bytes) -> bytes:
        """The answer to one challenge (success data included)."""
        if not self._started and self.mechanism.client_first:
            self.hold(self.initial_response() or b"")
        if self._held is not None:
            if challenge:
                raise MalformedMessage(
                    f"{self.name}: the server sent a challenge where the initial response was due"
                )
            held, self._held = self._held, None
            return held
        self._started = True
        # RFC 7628 3.2.3: an OAuth client that is done still answers an error challenge.
        if self.mechanism.complete and not self.mechanism.answers_errors:
            raise MalformedMessage(f"{self.name}: the server sent a challenge after the last step")
        return self.mechanism.step(challenge) or b""

    def succeeded(self, server: str) -> None:
        """The server reported success: it must have proved itself by now."""
        if not self.mechanism.complete:
            raise MutualAuthenticationFailed(
                f"{server} reported {self.name} success before the mechanism finished: "
                "the server did not prove itself; close this session"
            )


def choose_mechanism(
    offered: Iterable[str],
    service: str,
    host: str,
    /,
    *,
    encrypted: bool,
    username: str,
    password: str,
    authzid: str = "",
    mechanisms: Collection[str] | None = None,
    allow_plaintext: bool = False,
    registry: Registry = default_registry,
    **options: object,
) -> Exchange:
    """The strongest mechanism the registry allows among ``offered``, ready to step.

    The protocol's ``service`` and the server's ``host`` give way to ``options``,
    which are further ``ClientOptions`` fields (``service``, ``host`` and
    ``channel_binding`` among them).
    """
    plan = plan_login(
        registry,
        list(offered),
        encrypted=encrypted,
        username=username,
        password=password,
        service=service,
        host=host,
        options=options,
        authzid=authzid,
        binding=cast("ChannelBinding | None", options.get("channel_binding")),
        allow_plaintext=allow_plaintext,
        allow=mechanisms,
    )
    name = plan.choice.best.name
    return Exchange(name, plan.client(name))


def _encrypted(sock: object) -> bool:
    return isinstance(sock, ssl.SSLSocket)


# --- smtplib ------------------------------------------------------------------------------


class SMTPAuthObject:
    """The ``authobject`` for ``smtplib.SMTP.auth(name, authobject)``: bytes in, ASCII out.

    smtplib calls it with no argument for the initial response (``None``: the
    mechanism has none), then with each decoded challenge.
    """

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.answering = False
        """A challenge came: if this call raises, the server still waits for an answer."""
        self._rounds = 0

    @overload
    def __call__(self, challenge: None = None, /) -> str | None: ...
    @overload
    def __call__(self, challenge: bytes, /) -> str: ...

    def __call__(self, challenge: bytes | None = None, /) -> str | None:
        if challenge is None:
            out = self.exchange.initial_response()
            if out is None:
                return None
        else:
            self.answering = True
            out = self.exchange.respond(challenge)
        self._rounds += 1
        if self._rounds > SMTPLIB_MAX_ROUNDS:
            raise UsageError(
                f"{self.exchange.name} needs more than {SMTPLIB_MAX_ROUNDS} responses, all "
                "smtplib.SMTP.auth allows; use sasl_kit.smtp.SMTPClient"
            )
        if not out.isascii():
            raise UsageError(
                f"{self.exchange.name}: this response is not ASCII (non-ASCII credentials?) "
                "and smtplib.SMTP.auth sends only ASCII; use sasl_kit.smtp.SMTPClient"
            )
        return out.decode("ascii")


def smtp_authenticate(
    smtp: smtplib.SMTP,
    username: str,
    password: str,
    *,
    initial_response_ok: bool = True,
    **choice: Any,
) -> str:
    """AUTH on an ``smtplib.SMTP`` session with the strongest usable mechanism; its name.

    Keywords: ``authzid``, ``mechanisms`` (limits the choice),
    ``allow_plaintext``, ``registry`` and ``ClientOptions`` fields.
    """
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("the server offers no AUTH (no AUTH in its EHLO reply)")
    host = getattr(smtp, "_host", "") or "localhost"
    exchange = choose_mechanism(
        smtp.esmtp_features["auth"].split(),
        "smtp",
        host,
        encrypted=_encrypted(smtp.sock),
        username=username,
        password=password,
        **choice,
    )
    authobject = SMTPAuthObject(exchange)
    try:
        smtp.auth(exchange.name, authobject, initial_response_ok=initial_response_ok)
    except SASLError:
        if authobject.answering:  # the server is mid-AUTH: cancel, it answers 501
            smtp.docmd("*")
        raise
    except smtplib.SMTPAuthenticationError as exc:
        if not exchange.reason:
            raise
        error = exc.smtp_error  # bytes, as smtplib reads replies
        if isinstance(error, bytes):
            error += exchange.reason.encode("utf-8")
        else:
            error += exchange.reason
        raise smtplib.SMTPAuthenticationError(exc.smtp_code, error) from None
    exchange.succeeded(host)
    return exchange.name


# --- imaplib ------------------------------------------------------------------------------


class IMAPAuthObject:
    """The ``authobject`` for ``imaplib.IMAP4.authenticate(name, authobject)``.

    imaplib calls it with each decoded continuation and sends ``*`` when it
    returns ``None``: a mechanism error is kept in ``error`` and cancels.
    """

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.error: SASLError | None = None

    def __call__(self, challenge: bytes) -> bytes | None:
        try:
            return self.exchange.respond(challenge)
        except SASLError as exc:
            self.error = exc
            return None


def imap_authenticate(imap: imaplib.IMAP4, username: str, password: str, **choice: Any) -> str:
    """AUTHENTICATE on an ``imaplib.IMAP4`` session with the strongest usable mechanism.

    Keywords as for ``smtp_authenticate``. Returns the mechanism's name.
    """
    offered = [c[5:] for c in imap.capabilities if c.upper().startswith("AUTH=")]
    exchange = choose_mechanism(
        offered,
        "imap",
        imap.host or "localhost",
        encrypted=_encrypted(imap.sock),
        username=username,
        password=password,
        **choice,
    )
    authobject = IMAPAuthObject(exchange)
    try:
        imap.authenticate(exchange.name, authobject)
    except imap.error as exc:
        if authobject.error is not None:
            raise authobject.error from None
        if not exchange.reason:
            raise
        raise imap.error(f"{exc}{exchange.reason}") from None
    exchange.succeeded(imap.host)
    return exchange.name


# --- poplib (RFC 5034) --------------------------------------------------------------------


def pop3_auth(pop: poplib.POP3, exchange: Exchange) -> bytes:
    """Run ``AUTH`` (RFC 5034) for ``exchange`` on ``pop``; the server's ``+OK`` line.

    The exchange is the POP3 profile's (``sasl_kit.protocols.pop3``) on poplib's
    line I/O. ``-ERR`` raises ``poplib.error_proto``, as poplib's own commands do;
    a line that is no part of AUTH as well.
    """
    auth = pop3_profile.PROFILE.client(exchange.name, exchange.mechanism)
    out = auth.start()
    while auth.result is None:
        pop.sock.sendall(out)
        line = _pop3_line(pop)
        try:
            out = auth.receive(line + b"\r\n")
        except ProtocolViolation:
            raise poplib.error_proto(line) from None
    result = auth.result
    if result.outcome is Outcome.CANCELLED:
        assert result.error is not None
        raise result.error  # cancelled with "*" and answered already, or not started
    if not result.ok:
        raise poplib.error_proto(line + exchange.reason.encode(pop.encoding))
    return line


def _pop3_line(pop: poplib.POP3) -> bytes:
    """One reply line without its line ending, read as poplib reads its own."""
    line = pop.file.readline(POP3_MAX_LINE + 1)
    if not line:
        raise poplib.error_proto("-ERR connection closed during AUTH")
    if len(line) > POP3_MAX_LINE:
        raise poplib.error_proto("-ERR reply line too long")
    return line.rstrip(b"\r\n")


def pop3_authenticate(pop: poplib.POP3, username: str, password: str, **choice: Any) -> str:
    """AUTH on a ``poplib.POP3`` session with the strongest mechanism its CAPA ``SASL`` offers.

    Keywords as for ``smtp_authenticate``. Returns the mechanism's name.
    """
    offered = pop.capa().get("SASL", [])
    exchange = choose_mechanism(
        offered,
        "pop",
        pop.host or "localhost",
        encrypted=_encrypted(pop.sock),
        username=username,
        password=password,
        **choice,
    )
    pop3_auth(pop, exchange)
    return exchange.name
