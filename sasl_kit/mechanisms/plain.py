"""PLAIN (RFC 4616): ``[authzid] NUL authcid NUL passwd`` in one client message.

Rules of this module:
- The client sends its message as the initial response (``client_first``).
- The server refuses an empty authcid or password, more or fewer than two NULs
  and non-UTF-8 text as ``MalformedMessage``; a wrong password or unknown user
  as ``AuthenticationFailed``, with the same message for both.
- Presented and stored values are compared after SASLprep (RFC 4616 section 4),
  in constant time.
"""

from __future__ import annotations

from sasl_kit import preparation
from sasl_kit.errors import MalformedMessage
from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism, ServerOptions, secrets_equal


def decode_utf8(data: bytes, what: str, mechanism: str) -> str:
    """Decode a peer's UTF-8 text, or say which part was not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"{mechanism}: {what} is not UTF-8 (byte {exc.start})") from None


def password_matches(options: ServerOptions, authcid: str, presented: str, realm: str = "") -> bool:
    """Compare a presented password with the stored one, both prepared (RFC 4616 4: SASLprep;
    ``options.preparation`` may ask for PRECIS OpaqueString instead)."""
    stored = options.credentials.password(authcid, realm)
    if stored is None:
        return False
    how = options.preparation
    try:
        presented_prep = preparation.password(presented, how)
        stored_prep = preparation.password(stored, how, query=False)
    except MalformedMessage:
        return False
    return secrets_equal(presented_prep, stored_prep)


class PlainClient(ClientMechanism):
    name = "PLAIN"
    client_first = True

    def _step(self, data: bytes | None) -> bytes | None:
        o = self.options
        self._finish()
        # RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
        return b"\0".join(s.encode("utf-8") for s in (o.authzid, o.username, o.password))


class PlainServer(ServerMechanism):
    name = "PLAIN"

    def _step(self, data: bytes | None) -> bytes | None:
        if data is None:
            return b""  # RFC 4422 3.3: ask for the message with an empty challenge
        fields = data.split(b"\0")
        if len(fields) != 3:
            raise MalformedMessage(f"PLAIN: expected 2 NUL separators, found {len(fields) - 1}")
        authzid, authcid, passwd = (
            decode_utf8(part, what, self.name)
            for part, what in zip(fields, ("authzid", "authcid", "password"), strict=True)
        )
        if not authcid:
            raise MalformedMessage("PLAIN: empty authcid")
        if not passwd:
            raise MalformedMessage("PLAIN: empty password")
        try:
            authcid = preparation.username(authcid, self.options.preparation)
        except MalformedMessage as exc:
            raise MalformedMessage(f"PLAIN: authcid refused by {exc}") from None
        if not password_matches(self.options, authcid, passwd):
            raise self._reject(f"authentication failed for {authcid!r}")
        self._accept(authcid, authzid)
        return None
