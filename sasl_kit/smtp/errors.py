"""The SMTP client's errors: session failures, in sasl-kit's one hierarchy.

Rules of this module:
- These are errors of a session, not of a message: a message the server
  refuses is a ``SendResult`` with a status, not an exception.
- ``code`` and ``text`` are the server's reply when there was one (``None`` /
  ``""`` when the decision was local or the connection was gone).
- Each also derives from the generic class that names the guilty side where
  one fits (``MalformedMessage`` for the server's protocol errors,
  ``PolicyRefused`` for TLS, ``AuthenticationFailed`` for rejected credentials).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sasl_kit.errors import AuthenticationFailed, MalformedMessage, PolicyRefused, SASLError

if TYPE_CHECKING:
    from sasl_kit.smtp.data import OutgoingMessage
    from sasl_kit.smtp.results import SendResult


class SMTPError(SASLError):
    """Base of the SMTP client's errors; ``code``/``text`` are the server's reply if any."""

    def __init__(self, message: str, *, code: int | None = None, text: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.text = text


class ConnectionFailed(SMTPError):
    """The network failed us: no connection, a TLS handshake error, a timeout, a dropped link.

    Raised only where nothing can have been delivered; see ``OutcomeUnknown``.
    """


class OutcomeUnknown(SMTPError):
    """The link failed after the whole message was sent and before the server's final reply.

    The server may have accepted the message: a retry may deliver a duplicate.
    Deliberately not a ``ConnectionFailed``, which a caller may safely retry.
    ``result`` is the message's ``SendResult`` (status ``unknown``).
    """

    def __init__(self, message: str, *, result: SendResult) -> None:
        super().__init__(message)
        self.result = result


class BatchStopped(SMTPError):
    """``send_many`` stopped before the end of its messages; ``error`` (also the
    ``__cause__``) is what stopped it, as ``send`` raised it, and says who is at fault.

    Every message taken from the batch is in ``results`` (by position, from the
    first) or in ``unsent``, in order; the batch's messages after those were
    not taken. ``results`` holds a ``SendResult`` per message whose outcome is
    known, the last one ``unknown`` when ``error`` is ``OutcomeUnknown`` (that
    message may have been delivered). ``unsent`` holds the messages after
    them: not delivered, safe to send again (the one the batch stopped at,
    and with PIPELINING the one whose envelope went with its data).
    ``code``/``text`` are ``error``'s when it has them.
    """

    def __init__(
        self,
        message: str,
        *,
        results: list[SendResult],
        unsent: tuple[OutgoingMessage, ...],
        error: Exception,
    ) -> None:
        code, text = (error.code, error.text) if isinstance(error, SMTPError) else (None, "")
        super().__init__(message, code=code, text=text)
        self.results = results
        self.unsent = unsent
        self.error = error


class SMTPProtocolError(SMTPError, MalformedMessage):
    """The server broke the protocol: an unparsable reply, bytes injected before TLS."""


class TLSRequired(SMTPError, PolicyRefused):
    """TLS is required (by our policy, or by the server's 538) and the connection has none."""


class NoUsableMechanism(SMTPError, PolicyRefused):
    """No AUTH mechanism the server offers could be used. ``offered`` is its AUTH list,
    ``passed_over`` each mechanism's reason (the registry's text, or the exchange's)."""

    def __init__(
        self, message: str, *, offered: tuple[str, ...], passed_over: dict[str, str]
    ) -> None:
        super().__init__(message)
        self.offered = offered
        self.passed_over = passed_over


class CredentialsRejected(SMTPError, AuthenticationFailed):
    """The server refused the credentials (535); no other mechanism is tried."""


class TemporaryFailure(SMTPError):
    """The server refused for now (4xx): the same request may succeed later."""


class CommandRejected(SMTPError):
    """The server refused a session command for good (5xx), e.g. the greeting or EHLO."""
