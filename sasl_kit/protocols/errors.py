"""Errors of a protocol exchange, by guilty side, in sasl-kit's one hierarchy.

Rules of this module:
- ``code`` and ``text`` are the server's outcome as written (``""`` when the
  decision was local). Messages hold names and codes, never a payload.
- Each class also derives from the generic class that names the guilty side
  (``AuthenticationFailed`` for the credentials, ``PolicyRefused`` for TLS and
  refused mechanisms, ``MalformedMessage`` for a broken peer), so a caller can
  catch by side without knowing the protocol.
"""

from __future__ import annotations

from sasl_kit.errors import AuthenticationFailed, MalformedMessage, PolicyRefused, SASLError


class ServerRefused(SASLError):
    """The server ended the exchange with a failure; ``code``/``text`` as it wrote them."""

    def __init__(self, message: str, *, code: int | str | None = None, text: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.text = text


class CredentialsRejected(ServerRefused, AuthenticationFailed):
    """The credentials were refused (SMTP 535, IMAP NO, LDAP 49, XMPP not-authorized)."""


class MechanismRefused(ServerRefused, PolicyRefused):
    """The server will not run this mechanism (SMTP 504/534, LDAP 7, XMPP invalid-mechanism):
    another mechanism may still work."""


class TemporaryFailure(ServerRefused):
    """The server failed for now (SMTP 454, IMAP [UNAVAILABLE], XMPP temporary-auth-failure)."""


class TLSRequired(ServerRefused, PolicyRefused):
    """TLS is needed first (SMTP 538, LDAP confidentialityRequired, XMPP encryption-required)."""


class SessionRefused(ServerRefused):
    """The exchange succeeded, then the server refused the session (PostgreSQL's
    ErrorResponse after AuthenticationOk: a database that does not exist)."""


class ProtocolViolation(MalformedMessage):
    """The peer broke the protocol's framing: a line too long, bad base64, a bad frame."""
