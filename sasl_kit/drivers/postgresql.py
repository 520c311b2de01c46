"""PostgreSQL sessions: connect, SSLRequest, StartupMessage, one SASL exchange.

Rules of this module (and those of the package):
- TLS is asked for with SSLRequest (PostgreSQL 15 has no implicit TLS): with
  ``settings.tls`` ``"starttls"`` (what ``sslmode=require`` means here) the
  server must answer ``S``, or the session fails with ``ServerRefused``; the
  handshake verifies the certificate with ``settings.context`` (a default
  context, so verified, when there is none). Exactly one byte is read before
  the handshake: nothing the server sends in the clear is kept past it.
  ``"none"`` sends no SSLRequest.
- ``settings.options``: ``user`` is the role named in the StartupMessage (as
  libpq does, the operating-system user name when none is given), ``database``
  defaults to the user. The role is the one PostgreSQL authenticates: it
  ignores the SCRAM ``n=`` name.
- ``url_options`` reads a ``postgresql://`` URL's ``/DATABASE`` and
  ``?sslmode=``: ``disable`` (the default) is no TLS; ``require``,
  ``verify-ca`` and ``verify-full`` are SSLRequest, the certificate verified
  all three times (by the context: stricter than libpq's ``require``);
  ``prefer`` and ``allow`` (TLS only if it happens to work) are refused.
- The mechanism list is learned from the StartupMessage's answer, so it is
  known only once the session is open, after TLS when TLS was asked for:
  ``mechanisms_before_tls`` is always ``None``. A session carries one
  exchange (the server closes the connection after a failed one).
- After a successful exchange ``authenticate`` reads on to ReadyForQuery
  (``SessionStart``), so that a login is reported only once the session
  exists: an ErrorResponse there (``3D000`` a database that does not exist,
  ``53300`` too many connections) is raised as ``SessionRefused`` with the
  server's SQLSTATE and message, while ``auth.result`` keeps the exchange's
  success (SASL did succeed). ``parameters`` are then the server's
  ParameterStatus values.
"""

from __future__ import annotations

import getpass
import socket
import ssl
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, unquote

from sasl_kit import channel_binding
from sasl_kit.drivers.base import (
    RECV_SIZE,
    ConnectionClosed,
    SessionSettings,
    StartTLSUnavailable,
    run,
)
from sasl_kit.errors import UsageError
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols import TLSMode
from sasl_kit.protocols.base import ClientAuth, Result
from sasl_kit.protocols.errors import MechanismRefused
from sasl_kit.protocols.postgresql import PROFILE, SessionStart, Startup, terminate

SSLMODES: dict[str, TLSMode] = {
    "disable": "none",
    "require": "starttls",
    "verify-ca": "starttls",
    "verify-full": "starttls",
}


class PostgreSQLSession:
    """One connection past TLS and the StartupMessage, waiting for SASLInitialResponse."""

    profile = PROFILE
    mechanisms_before_tls: tuple[str, ...] | None = None

    def __init__(self, settings: SessionSettings) -> None:
        if settings.tls == "implicit":
            raise UsageError("PostgreSQL 15 has no implicit TLS; ask for TLS with SSLRequest")
        user = settings.options.get("user") or _os_user()
        self.startup = Startup(user, settings.options.get("database", ""))
        self._host = settings.host
        self._logged_in = False
        self.parameters: dict[str, str] = {}
        """The server's ParameterStatus values, once a login reached ReadyForQuery."""
        self._sock = socket.create_connection((settings.host, settings.port), settings.timeout)
        try:
            self.encrypted = settings.tls == "starttls"
            if self.encrypted:
                self._start_tls(settings)
            self._sock.sendall(self.startup.start())
            while self.startup.mechanisms is None:
                self.startup.receive(self._recv("before authentication"))
        except BaseException:
            self._sock.close()
            raise
        self.mechanisms: tuple[str, ...] = self.startup.mechanisms

    def _start_tls(self, settings: SessionSettings) -> None:
        self._sock.sendall(self.startup.request_tls())
        if not self.startup.tls_answer(self._sock.recv(1)):
            raise StartTLSUnavailable(
                f"{self._host} does not offer TLS (it answered SSLRequest with N)"
            )
        context = settings.context or ssl.create_default_context()
        self._sock = context.wrap_socket(self._sock, server_hostname=settings.host)

    def _recv(self, when: str) -> bytes:
        data = self._sock.recv(RECV_SIZE)
        if not data:
            raise ConnectionClosed(f"{self._host} closed the connection {when}")
        return data

    def channel_binding(self, type: str) -> ChannelBinding | None:
        """This connection's binding of ``type``; ``None`` without TLS."""
        if not isinstance(self._sock, ssl.SSLSocket):
            return None
        return channel_binding.from_connection(self._sock, type)

    def authenticate(self, auth: ClientAuth) -> Result:
        """Run ``auth``'s exchange; only a mechanism the server listed is started.

        After a success, the session's start-up up to ReadyForQuery; an
        ErrorResponse there is ``SessionRefused`` (``auth.result`` is the success).
        """
        if auth.name not in self.mechanisms:
            offered = " ".join(self.mechanisms) or f"none: it asked for {self.startup.request}"
            raise MechanismRefused(f"{self._host} did not offer {auth.name} (offered: {offered})")
        result = run(self._sock, auth)
        if result.ok:
            start = SessionStart()
            start.receive(auth.leftover)
            while not start.ready:
                start.receive(self._recv("before ReadyForQuery"))
            self.parameters = start.parameters
            self._logged_in = True
        return result

    def close(self) -> None:
        """Terminate a session that logged in; otherwise just close (there is no SASL abort)."""
        try:
            if self._logged_in:
                self._sock.sendall(terminate())
        except OSError:
            pass
        finally:
            self._sock.close()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise UsageError("no PostgreSQL user given and no operating-system user name") from None


def url_options(path: str, query: str) -> tuple[TLSMode | None, dict[str, str]]:
    """A URL's ``/DATABASE`` and ``?sslmode=MODE``: the TLS mode (``None``: none
    given) and the session options (``database``)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise UsageError("the URL's query is not name=value pairs") from None
    tls: TLSMode | None = None
    for name, value in pairs:
        if name != "sslmode" or value not in SSLMODES:
            raise UsageError(
                f"a postgresql:// URL takes only sslmode={'|'.join(SSLMODES)} in its query"
            )
        tls = SSLMODES[value]
    written = path.removeprefix("/")
    if "/" in written:  # a "/" in the name itself is written %2F
        raise UsageError("a postgresql:// URL's path is one database name")
    database = unquote(written)
    return tls, {"database": database} if database else {}


def url_tail(tls: TLSMode, options: Mapping[str, str]) -> str:
    """``/DATABASE`` and ``?sslmode=require`` as ``url_options`` reads them back."""
    database = options.get("database", "")
    return ("/" + quote(database, safe="") if database else "") + (
        "?sslmode=require" if tls == "starttls" else ""
    )


def open_session(settings: SessionSettings) -> PostgreSQLSession:
    return PostgreSQLSession(settings)
