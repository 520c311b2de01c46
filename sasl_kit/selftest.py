"""The self-test: every vector file replayed, and a handshake per mechanism.

Rules of this module:
- It returns result rows and prints nothing; ``sasl-kit selftest`` prints them.
- It knows no mechanism by name: vectors name their mechanism, handshakes run
  over every registry row that has both a client and a server side.
- One check failing never hides the others: each check is caught on its own
  and becomes a ``FAIL`` row saying what went wrong.
- Handshakes use a fresh random password with a non-ASCII character and fresh
  nonces (no ``nonce``/``cnonce`` option); the password never reaches a row.
  They run as over a TLS connection whose server offers every mechanism: both
  sides get the same made-up channel binding, so mechanisms that need one run too.
  The password's base64 doubles as the bearer token and the user as the identity
  established outside SASL, so token and EXTERNAL mechanisms run alike; a
  mechanism that takes no secret (EXTERNAL, ANONYMOUS) skips the wrong-password row.

Theory of operation of ``handshake``: the client's initial response (if it is
client-first) goes to the server's first ``step``, else the server starts with
``None``. The server's messages go to the client and back until the server
completes. Bytes returned together with completion are additional data with
success (RFC 4422 3.6); the driver delivers them as one more challenge, the way
a protocol without that feature does, and the client must answer it with an
empty message.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sasl_kit.errors import AuthenticationFailed, SASLError
from sasl_kit.mechanisms.anonymous import ANONYMOUS_IDENTITY
from sasl_kit.mechanisms.base import ChannelBinding, ClientMechanism, ServerMechanism
from sasl_kit.mechanisms.oauth import TokenTable
from sasl_kit.registry import MechanismInfo, Registry, default_registry
from sasl_kit.vectors import check_function, load_all, replay_client, replay_server

MAX_ROUND_TRIPS = 8
USERNAME = "selftest"


class HandshakeMismatch(SASLError):
    """A client and a server disagree on how their exchange goes or ends."""


@dataclass(frozen=True)
class HandshakeResult:
    """How a handshake went; ``round_trips`` counts the server messages the client answered."""

    round_trips: int
    authcid: str | None
    authzid: str | None
    additional_data: bool


def handshake(
    client: ClientMechanism, server: ServerMechanism, max_round_trips: int = MAX_ROUND_TRIPS
) -> HandshakeResult:
    """Run ``client`` against ``server`` until the server accepts; errors propagate."""
    response = client.step(b"") if client.client_first else None
    round_trips = 0
    while True:
        challenge = server.step(response)
        if server.complete and challenge is None:
            break
        if client.complete and not client.answers_errors:
            raise HandshakeMismatch(f"{server.name}: server sent a message after the client ended")
        round_trips += 1
        if round_trips > max_round_trips:
            raise HandshakeMismatch(f"{server.name}: no end after {max_round_trips} round trips")
        response = client.step(challenge or b"")
        if server.complete:  # the challenge was additional data with success
            if response:
                raise HandshakeMismatch(f"{client.name}: non-empty answer to additional data")
            break
    if not client.complete:
        raise HandshakeMismatch(f"{client.name}: server accepted, client did not complete")
    return HandshakeResult(
        round_trips, server.authcid, server.authzid, additional_data=challenge is not None
    )


class Result(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Row:
    what: str
    result: Result
    detail: str


def run(registry: Registry = default_registry) -> list[Row]:
    """Every vector in ``vectors/``, then the handshakes of ``registry``."""
    return [*_vector_rows(registry), *_handshake_rows(registry)]


def _check(what: str, action: Callable[[], str]) -> Row:
    try:
        return Row(what, Result.OK, action())
    except Exception as exc:  # a bug in one check must not hide the others
        return Row(what, Result.FAIL, ": ".join(filter(None, (type(exc).__name__, str(exc)))))


def _vector_rows(registry: Registry) -> list[Row]:
    try:
        vector_files = load_all()
    except SASLError as exc:
        return [Row("vector files", Result.FAIL, str(exc))]
    rows = []
    for vector_file in vector_files:
        for vector in vector_file.vectors:
            what = f"vector {vector['id']}"
            if vector_file.kind == "function":
                rows.append(_check(what, _replayer(check_function, vector)))
            elif vector_file.kind == "exchange":
                rows += _exchange_rows(what, vector, registry)
            else:
                rows.append(Row(what, Result.FAIL, f"unknown kind {vector_file.kind!r}"))
    return rows


def _exchange_rows(what: str, vector: Mapping[str, Any], registry: Registry) -> list[Row]:
    replayable = vector.get("replay", ["client", "server"])
    rows = []
    for side, replay in (("client", replay_client), ("server", replay_server)):
        if side in replayable:
            rows.append(_check(f"{what} as {side}", _replayer(replay, vector, registry)))
        else:
            rows.append(
                Row(f"{what} as {side}", Result.SKIP, f"the vector does not replay the {side}")
            )
    return rows


def _replayer(
    replay: Callable[..., None], vector: Mapping[str, Any], *args: object
) -> Callable[[], str]:
    def action() -> str:
        replay(vector, *args)
        source = vector["source"]
        return f"{source['document']} section {source.get('section', '?')}"

    return action


def _handshake_rows(registry: Registry) -> list[Row]:
    rows = []
    for info in registry:
        if info.client is not None and info.server is not None:
            password = f"sëlftest-{secrets.token_urlsafe(12)}"
            rows.append(_check(f"handshake {info.name}", _accepts(registry, info, password)))
            what = f"handshake {info.name}, wrong password"
            if info.credential in ("password", "token"):
                rows.append(_check(what, _refuses(registry, info, password)))
            else:
                rows.append(Row(what, Result.SKIP, f"{info.name} takes no secret to get wrong"))
    return rows


def _run_handshake(
    registry: Registry, info: MechanismInfo, password: str, stored: str
) -> HandshakeResult:
    binding = ChannelBinding("tls-exporter", secrets.token_bytes(32))
    client = registry.client(
        info.name,
        username=USERNAME,
        password=password,
        token=_as_token(password),
        channel_binding=binding,
        server_offers_plus=True,
    )
    server = registry.server(
        info.name,
        {USERNAME: stored},
        channel_binding=binding,
        validate_token=TokenTable({USERNAME: _as_token(stored)}),
        external_identity=USERNAME,
    )
    return handshake(client, server)


def _as_token(password: str) -> str:
    """A bearer token (RFC 6750 b64token) that stands for ``password``."""
    return base64.b64encode(password.encode("utf-8")).decode("ascii")


def _accepts(registry: Registry, info: MechanismInfo, password: str) -> Callable[[], str]:
    def action() -> str:
        result = _run_handshake(registry, info, password, password)
        expected = ANONYMOUS_IDENTITY if info.credential == "none" else USERNAME
        if result.authcid != expected:
            raise HandshakeMismatch(f"server authenticated {result.authcid!r}")
        n = result.round_trips
        extra = ", the last with additional data" if result.additional_data else ""
        return f"{n} round trip{'' if n == 1 else 's'}{extra}, authenticated {expected!r}"

    return action


def _refuses(registry: Registry, info: MechanismInfo, password: str) -> Callable[[], str]:
    def action() -> str:
        try:
            _run_handshake(registry, info, password + "x", password)
        except AuthenticationFailed as exc:
            return f"refused: {exc}"
        raise HandshakeMismatch("server accepted a wrong password")

    return action
