"""LOGIN (draft-murchison-sasl-login): user name, then password, each on request.

Rules of this module:
- The client answers by position, never by the wording of the prompt: servers
  send "Username:", "User Name\\0", "username:" and others.
- The server prompts with "Username:" and "Password:"; an initial response
  counts as the user name. It checks the password like PLAIN does.
"""

from __future__ import annotations

from sasl_kit.errors import MalformedMessage
from sasl_kit.mechanisms.base import (
    ClientMechanism,
    ClientOptions,
    ServerMechanism,
    ServerOptions,
)
from sasl_kit.mechanisms.plain import decode_utf8, password_matches


class LoginClient(ClientMechanism):
    name = "LOGIN"

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self._answered = 0

    def _step(self, data: bytes | None) -> bytes | None:
        self._answered += 1
        if self._answered == 1:
            return self.options.username.encode("utf-8")
        self._finish()
        return self.options.password.encode("utf-8")


class LoginServer(ServerMechanism):
    name = "LOGIN"

    def __init__(self, options: ServerOptions) -> None:
        super().__init__(options)
        self._username: str | None = None
        self._prompted = False

    def _step(self, data: bytes | None) -> bytes | None:
        if self._username is None:
            if not data:
                if self._prompted:
                    raise MalformedMessage("LOGIN: empty user name")
                self._prompted = True
                return b"Username:"
            self._username = decode_utf8(data, "user name", self.name)
            return b"Password:"
        if data is None:
            raise MalformedMessage("LOGIN: no password sent")
        password = decode_utf8(data, "password", self.name)
        if not password_matches(self.options, self._username, password):
            raise self._reject(f"authentication failed for {self._username!r}")
        self._accept(self._username, "")
        return None
