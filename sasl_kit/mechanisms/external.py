"""EXTERNAL (RFC 4422 appendix A): an identity established outside SASL, and an authzid.

Rules of this module:
- The client sends ``ClientOptions.authzid`` (UTF-8, possibly empty: "act as
  whoever the lower layer says I am") as its initial response and is done.
- The server authenticates ``ServerOptions.external_identity`` (what TLS, IPsec
  or the socket established; the caller's to fill) and hands the requested
  authzid to the authorization policy. Without an external identity every
  client is refused (``AuthenticationFailed``): EXTERNAL proves nothing itself.
"""

from __future__ import annotations

from sasl_kit.errors import MalformedMessage
from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism
from sasl_kit.mechanisms.plain import decode_utf8


class ExternalClient(ClientMechanism):
    name = "EXTERNAL"
    client_first = True

    def _step(self, data: bytes | None) -> bytes | None:
        self._finish()
        return self.options.authzid.encode("utf-8")  # RFC 4422 A: message = [ authz-id-string ]


class ExternalServer(ServerMechanism):
    name = "EXTERNAL"

    def _step(self, data: bytes | None) -> bytes | None:
        if data is None:
            return b""  # RFC 4422 3.3: an empty challenge asks for the message
        authzid = decode_utf8(data, "authzid", self.name)
        if "\0" in authzid:
            raise MalformedMessage(f"{self.name}: the authzid holds a NUL character")
        identity = self.options.external_identity
        if identity is None:
            raise self._reject("no identity was established outside SASL (e.g. TLS client auth)")
        self._accept(identity, authzid)
        return None
