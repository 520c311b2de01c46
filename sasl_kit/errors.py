"""The one error hierarchy of sasl-kit.

Rules of this module:
- Every error a parser, a mechanism or the registry raises is a ``SASLError``.
- The subclass says *who is at fault*: our caller (``UsageError``), the peer
  (``MalformedMessage``), the credentials (``AuthenticationFailed``), the server
  failing to prove itself (``MutualAuthenticationFailed``), or a local policy
  (``PolicyRefused``). ``verify`` and the CLI depend on that distinction.
- A message says what was wrong and where. It never contains a secret: callers
  build messages from names and positions, not from the data that held a secret.
"""

from __future__ import annotations


class SASLError(Exception):
    """Base of every error sasl-kit raises on purpose."""


class UsageError(SASLError):
    """The caller misused the API: a missing option, a step out of order."""


class UnknownMechanism(UsageError):
    """No mechanism of that name is registered (for the side asked for)."""


class MalformedMessage(SASLError):
    """The peer sent a message that does not parse as its mechanism requires."""


class AuthenticationFailed(SASLError):
    """The credentials do not match: wrong password, unknown user, refused authzid."""


class MutualAuthenticationFailed(SASLError):
    """The server's proof (DIGEST-MD5 rspauth, SCRAM server signature) did not verify."""


class PolicyRefused(SASLError):
    """A local policy forbids this: plaintext mechanism without TLS, a denied name."""


class MessageError(UsageError):
    """The message to send is invalid: header injection, a bad address, an unreadable attachment."""
