"""Record the base64 messages a sasl-kit mechanism sees and sends, as a transcript.

The interop harness (tests/interop/peers.py) relays messages between a peer
and a sasl-kit mechanism; wrapping that mechanism's ``step`` records both
directions in order, and ``smtp``/``imap`` write them out in the RFCs' C:/S:
notation with the outcome the server reached.
"""

from __future__ import annotations

import base64

from sasl_kit import ClientMechanism, ServerMechanism


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Recorder:
    """``("C" | "S", bytes)`` in the order they crossed; ``initial`` the client's first
    message when it came with the command (``None``: no initial response)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.initial: bytes | None = None
        self._started = False

    def server(self, mech: ServerMechanism) -> ServerMechanism:
        step = mech.step

        def recorded(data: bytes | None) -> bytes | None:
            if not self._started:
                self._started = True
                self.initial = data
            elif data is not None:
                self.messages.append(("C", data))
            out = step(data)
            if out is not None and not (mech.complete and not out):
                self.messages.append(("S", out))
            return out

        mech.step = recorded  # type: ignore[method-assign]
        return mech

    def client(self, mech: ClientMechanism) -> ClientMechanism:
        step = mech.step

        def recorded(data: bytes | None) -> bytes | None:
            first, self._started = not self._started, True
            if first and mech.client_first:
                self.initial = step(data)
                return self.initial
            if data is not None:
                self.messages.append(("S", data))
            out = step(data)
            if out is not None:
                self.messages.append(("C", out))
            return out

        mech.step = recorded  # type: ignore[method-assign]
        return mech

    def _body(self, challenge: str) -> list[str]:
        lines = []
        for side, data in self.messages:
            lines.append(f"S: {challenge}{_b64(data)}" if side == "S" else f"C: {_b64(data)}")
        if lines and lines[-1].startswith("S:"):
            lines.append("C: ")  # the client's empty answer to a last challenge (rspauth)
        return lines

    def smtp(self, mechanism: str, *, success: bool) -> str:
        initial = "" if self.initial is None else " " + (_b64(self.initial) or "=")
        reply = (
            "235 2.7.0 Authentication successful"
            if success
            else ("535 5.7.8 Error: authentication failed")
        )
        lines = ["S: 220 mail.example.org ESMTP", f"C: AUTH {mechanism}{initial}"]
        return "\n".join([*lines, *self._body("334 "), f"S: {reply}"]) + "\n"

    def imap(self, mechanism: str, *, success: bool) -> str:
        initial = "" if self.initial is None else " " + (_b64(self.initial) or "=")
        reply = "a1 OK Logged in" if success else "a1 NO [AUTHENTICATIONFAILED] failed"
        lines = ["S: * OK IMAP4rev1 ready", f"C: a1 AUTHENTICATE {mechanism}{initial}"]
        return "\n".join([*lines, *self._body("+ "), f"S: {reply}"]) + "\n"
