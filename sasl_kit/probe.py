"""What a live server really accepts: ``sasl-kit probe`` (docs/probe.md).

Rules of this module:
- A probe lists the mechanisms a server advertises before and after TLS
  (SMTP EHLO ``AUTH``, IMAP ``CAPABILITY`` ``AUTH=``, POP3 ``CAPA`` ``SASL``)
  and, given credentials, tries each one advertised on the connection the
  tries use (after TLS; without TLS for a ``Target`` with ``tls="none"``),
  each try in a fresh connection so that one failure cannot spoil the next.
- The plaintext policy: without TLS, a mechanism that puts the password on the
  wire (PLAIN, LOGIN) is tried only with ``allow_plaintext``; the
  shared-secret ones (CRAM-MD5, DIGEST-MD5, SCRAM, NTLM) are always tried.
- Which mechanisms can be tried is the registry's decision (``Registry.choose``):
  one not tried is ``skipped`` with a ``NotTried`` reason (the CLI words it in
  its options) and the registry's text in ``detail``.
- Every try records the AUTH exchange as it went over the wire, in the
  ``C:``/``S:`` notation of the RFCs with the base64 payloads, which is what a
  diagnosis reads. The record holds secrets (PLAIN's is the password), so it
  never shows in a ``repr``; ``Attempt.shown_transcript`` blanks the client's
  payloads of plaintext mechanisms for printing, as the protocol's profile
  redacts them (the framing is the profile's, not known here).
- Our client's responses are known to be correct (vectors prove them), so a
  rejection is the password's fault or the server's: when a plaintext
  mechanism works with the same password and a shared-secret one is rejected,
  that one is advertised but cannot work at this server.
- A try that goes wrong is a result (``error``), never an exception; only a
  server that cannot be reached or listed at all raises ``ProbeFailed``.

Theory of operation: every protocol of ``sasl_kit.drivers.DRIVERS`` is probed
the same way: ``drivers.open_session`` connects and lists, each try builds the
registry's mechanism and its protocol profile's exchange (``profile.client``)
and runs it with ``session.authenticate``; the exchange's own transcript is
what ``verify`` reads. A protocol with a profile and a driver needs nothing
here but its rows in ``SCHEMES`` (``sasl_kit.protocols``) and ``DRIVERS``.
"""

from __future__ import annotations

import enum
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from sasl_kit import drivers
from sasl_kit.drivers.base import Session, SessionSettings, StartTLSUnavailable
from sasl_kit.errors import MalformedMessage, SASLError, UsageError
from sasl_kit.mechanisms.digest_md5 import parse_challenge
from sasl_kit.protocols import SCHEMES as PROTOCOL_SCHEMES
from sasl_kit.protocols import TLSMode, profile
from sasl_kit.protocols.base import ClientAuth, TranscriptLine
from sasl_kit.protocols.base import Outcome as Outcome_
from sasl_kit.protocols.errors import SessionRefused
from sasl_kit.registry import MechanismInfo, Registry, default_registry
from sasl_kit.verify import CORRECT, UNVERIFIABLE, Diagnosis, read
from sasl_kit.verify import diagnose as verify

TLS = TLSMode
SCHEMES: dict[str, tuple[str, TLS, int]] = {
    scheme: row for scheme, row in PROTOCOL_SCHEMES.items() if row[0] in drivers.DRIVERS
}
"""URL scheme -> protocol, TLS mode, default port: the schemes of ``sasl_kit.protocols``
whose protocol has a driver (smtp:// is submission, as in ``send``)."""
MAX_OTHER_HOSTS = 2  # realms of a challenge tried as the host name, at most
REDACTED = "<redacted>"
CANNOT_WORK = (
    "advertised but cannot work: the server rejected our correct response although {plain} "
    "works with the same password, so it cannot verify {name} (e.g. Cyrus SASL checking "
    "passwords through saslauthd/PAM, or no stored secret for this user, only a hash)"
)
CYRUS_CAUSE = (
    "likely Cyrus SASL checking passwords through saslauthd or PAM (pwcheck_method: "
    "saslauthd), which can verify only a password sent in the clear; fix: keep the secrets "
    "where Cyrus can read them (pwcheck_method: auxprop, auxprop_plugin: sasldb, users "
    "added with saslpasswd2), or stop advertising {rejected}"
)
SEED_VERDICT = (
    "the server cannot verify shared-secret mechanisms: {rejected} rejected the password "
    "{works} accepts; " + CYRUS_CAUSE
)
NOTHING_CHECKS = (
    "a wrong password or an unknown user, or the server cannot check any password now "
    "(e.g. Cyrus SASL's saslauthd not running); the client's responses are not at fault"
)
PLAIN_CHECK_BROKEN_CAUSE = (
    "the server's check of passwords sent in the clear fails (e.g. Cyrus SASL's saslauthd "
    "not running, or its PAM/LDAP back end down)"
)
PLAIN_CHECK_BROKEN = (
    "the password is right ({other} works with it), yet the server refused it: "
    + PLAIN_CHECK_BROKEN_CAUSE
)
CANNOT_TELL = (
    "without PLAIN or LOGIN nothing here can tell a wrong password from a server that cannot "
    "verify shared-secret mechanisms (as Cyrus SASL with saslauthd cannot); trying PLAIN or "
    "LOGIN in the clear would tell"
)
NO_CROSS_CHECK = (
    "our response is correct for this password, and nothing tried can tell a wrong password "
    "from a server that cannot verify {name}: {plain} not tried without TLS"
)
HOST_BOUND = {"DIGEST-MD5": "digest-uri"}
"""Mechanisms whose response names the server's host, and where (RFC 2831 2.1.2): a
server may refuse a name it does not answer to, which looks like a wrong password."""
OTHER_NAME = (
    "the server checks the host name in {name}'s {where}: it refused '{host}' and "
    "accepted '{other}' (the realm it offered); connect to it by that name, or have the "
    "client name that host"
)
NO_OTHER_NAME = "; a host name other than '{host}' in {where} did not help either ({tried})"
UNRECOGNIZED = 504  # RFC 4954 4: "Unrecognized authentication type"
ADVERTISED_UNKNOWN = (
    "the server advertised {name} and then refused it as unknown ({reply}): its capability "
    "list is wrong, neither the client nor the password is at fault"
)


class ProbeFailed(SASLError):
    """The server could not be probed at all: no connection, no TLS, no capability list."""


class TLSUnavailable(ProbeFailed):
    """The server offers no STARTTLS: a ``Target`` with ``tls="none"`` probes it without."""


class Outcome(enum.Enum):
    OK = "ok"
    REJECTED = "rejected"
    ERROR = "error"
    SKIPPED = "skipped"


class NotTried(enum.Enum):
    """Why a mechanism was not tried (an ``Attempt`` that is ``skipped``)."""

    PLAINTEXT = "plaintext"
    """It puts the password on the wire and there is no TLS: ``allow_plaintext`` tries it."""
    CHANNEL_BINDING = "channel-binding"
    """A -PLUS mechanism, and no channel binding was asked for (``channel_binding``)."""
    NO_TLS = "no-tls"
    """A -PLUS mechanism without TLS: there is no channel to bind to."""
    UNUSABLE = "unusable"
    """The registry cannot use it here (no client side, a token needed ...): see ``detail``."""


@dataclass(frozen=True)
class Target:
    """Where to probe: ``protocol`` one of ``DRIVERS``; ``tls`` starttls, implicit or none.

    ``none`` probes without TLS, on a server that offers none or on purpose
    (``without_tls``); a URL never gives it.
    """

    protocol: str
    host: str
    port: int
    tls: TLS
    options: tuple[tuple[str, str], ...] = ()
    """Session options from the URL (``drivers.url_options``: PostgreSQL's database)."""

    @classmethod
    def from_url(cls, url: str) -> Target:
        """``scheme://host[:port]`` with a scheme of ``SCHEMES``."""
        try:
            parts = urlsplit(url)
        except ValueError:  # an unclosed [ of an IPv6 address
            raise UsageError(
                "the URL's host is not a name, an IPv4 address or an IPv6 address in [...]"
            ) from None
        scheme = parts.scheme.lower()
        # Parts are named, the URL is not echoed: scheme://user:password@host shows a secret.
        if scheme not in SCHEMES:
            raise UsageError(
                f"URL scheme must be one of {', '.join(SCHEMES)}; scheme {scheme!r} is not"
            )
        if parts.username is not None or parts.password is not None:
            raise UsageError("no user or password in the URL (give the user name separately)")
        try:
            port = parts.port
        except ValueError:
            raise UsageError("the URL's port is not a number from 0 to 65535") from None
        if not parts.hostname or parts.fragment:
            raise UsageError(f"expected {scheme}://HOST[:PORT] and nothing more")
        try:
            parts.hostname.encode("idna")  # what the resolver is given (RFC 5890 labels)
        except UnicodeError:
            raise UsageError(
                "the URL's host is not a usable name: each of its labels has 1 to 63 characters"
            ) from None
        protocol, tls, default = SCHEMES[scheme]
        asked, options = drivers.url_options(protocol, parts.path, parts.query)
        port = default if port is None else port
        return cls(protocol, parts.hostname, port, asked or tls, tuple(options.items()))

    def without_tls(self) -> Target:
        """The same server probed without STARTTLS (an implicit-TLS port has no such way)."""
        if self.tls == "implicit":
            raise UsageError(f"{self.url} is implicit TLS: there is no way in without TLS")
        return replace(self, tls="none")

    @property
    def url(self) -> str:
        """The target as a URL: the first scheme of its protocol and TLS mode (without
        TLS, the first that is not implicit TLS), and what its driver writes after the
        port (``drivers.url_tail``)."""
        schemes = [s for s, (protocol, _, _) in SCHEMES.items() if protocol == self.protocol]
        exact = [s for s in schemes if SCHEMES[s][1] == self.tls]
        plain = [s for s in schemes if SCHEMES[s][1] != "implicit"]
        scheme = (exact or plain or schemes or [self.protocol])[0]
        host = f"[{self.host}]" if ":" in self.host else self.host
        tail = drivers.url_tail(self.protocol, self.tls, dict(self.options))
        return f"{scheme}://{host}:{self.port}{tail}"


@dataclass(frozen=True)
class Attempt:
    """One mechanism tried (or not) in its own connection.

    ``round_trips`` counts the client's lines of the AUTH exchange, each
    answered by the server; ``seconds`` times the exchange alone (not the
    connection or TLS). ``detail`` is the server's last word or why the try
    was skipped or failed; ``diagnosis`` says what a failure means.
    """

    mechanism: str
    outcome: Outcome
    plaintext: bool = False
    round_trips: int = 0
    seconds: float | None = None
    detail: str = ""
    diagnosis: str = ""
    verified: Diagnosis | None = None
    """What ``sasl_kit.verify`` found in a failed try's transcript."""
    not_tried: NotTried | None = None
    """Why a ``skipped`` mechanism was not tried."""
    host: str = ""
    """The host name the mechanism named, for those in ``HOST_BOUND``."""
    other_hosts: tuple[tuple[str, Outcome], ...] = ()
    """Other host names tried after a rejection (the realms the server offered), and how."""
    session_refused: str = ""
    """Why the server refused the session after the exchange succeeded (``SessionRefused``:
    PostgreSQL's ErrorResponse after AuthenticationOk, such as a database that does not
    exist); the outcome stays ``ok``, the mechanism worked."""
    transcript: tuple[str, ...] = field(default=(), repr=False)
    shown: tuple[str, ...] = field(default=(), repr=False)
    """The transcript for printing, made by ``shown_lines`` from the profile's lines."""

    def shown_transcript(self) -> tuple[str, ...]:
        """The transcript for printing: a plaintext mechanism's client payloads blanked
        (as its profile blanks them; without ``shown``, every client line)."""
        if not self.plaintext:
            return self.transcript
        if self.shown:
            return self.shown
        return tuple(f"C: {REDACTED}" if s.startswith("C:") else s for s in self.transcript)


@dataclass(frozen=True)
class Report:
    """What a probe found.

    ``before_tls`` is ``None`` with implicit TLS, ``after_tls`` ``None`` without
    TLS (``tls="none"``); ``offered`` is the list the tries come from.
    ``verdict`` sums up the tries (``summarize``); ``next_step`` says which run
    could tell more, when one could.
    """

    target: Target
    before_tls: tuple[str, ...] | None
    after_tls: tuple[str, ...] | None
    attempts: tuple[Attempt, ...]
    verdict: str = ""
    next_step: NextStep | None = None

    @property
    def offered(self) -> tuple[str, ...]:
        """What the server advertised on the connection the tries use."""
        return self.after_tls if self.after_tls is not None else self.before_tls or ()


class NextStep(enum.Enum):
    """A run that could tell more than this one (``Report.next_step``)."""

    ALLOW_PLAINTEXT = "allow-plaintext"
    """Try PLAIN/LOGIN in the clear too: only they can tell a wrong password from a
    server that cannot verify the shared-secret mechanisms."""


# --- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Login:
    """What one try needs: the mechanism's name and the credentials."""

    name: str
    username: str
    password: str = field(repr=False)
    registry: Registry
    host: str | None = None  # the host the mechanism names; the target's by default

    def auth(self, target: Target, session: Session, binding_type: str | None) -> ClientAuth:
        """The profile's exchange of the mechanism, with the connection's channel binding
        (of ``binding_type``, if any) and whether -PLUS was offered."""
        binding = None if binding_type is None else session.channel_binding(binding_type)
        mechanism = self.registry.client(
            self.name,
            username=self.username,
            password=self.password,
            service=session.profile.service,
            host=self.host or target.host,
            channel_binding=binding,
            server_offers_plus=self.registry.choose(
                session.mechanisms, encrypted=True, channel_binding=True
            ).offers_channel_binding,
        )
        return session.profile.client(self.name, mechanism)


@dataclass(frozen=True)
class _Settings:
    target: Target
    cafile: str | None
    insecure_tls: bool
    timeout: float
    registry: Registry
    binding_type: str | None = None  # the channel binding to offer -PLUS mechanisms
    allow_plaintext: bool = False  # PLAIN and LOGIN may go without TLS (tls="none")
    username: str | None = None  # the role too, where the protocol names one at start-up

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if self.insecure_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def open(self) -> Session:
        """A session of the target's protocol through its driver (``sasl_kit.drivers``)."""
        target = self.target
        options = dict(target.options)
        if self.username is not None:
            options["user"] = self.username
        settings = SessionSettings(
            target.host, target.port, target.tls, self.context(), self.timeout, options
        )
        try:
            return drivers.open_session(target.protocol, settings)
        except StartTLSUnavailable as exc:
            raise TLSUnavailable(str(exc)) from None
        except (SASLError, OSError) as exc:
            raise ProbeFailed(str(exc)) from None


def _authenticate(session: Session, auth: ClientAuth, host: str) -> tuple[Outcome, str, str]:
    """One exchange on ``session``: the probe's outcome, the server's word (or why not),
    and why the server refused the session after the exchange succeeded (or ``""``)."""
    refused = ""
    try:
        result = session.authenticate(auth)
    except SessionRefused as exc:  # after the exchange: its success stands, the mechanism works
        if auth.result is None:
            raise
        result, refused = auth.result, str(exc)
    except SASLError as exc:
        return Outcome.ERROR, str(exc), ""
    reply = f"{result.code} {result.text}".strip()
    if result.outcome is Outcome_.SUCCESS:
        return Outcome.OK, reply, refused
    if result.outcome is Outcome_.REJECTED:
        return Outcome.REJECTED, reply, ""
    if result.outcome is Outcome_.REFUSED and result.code == str(UNRECOGNIZED):
        return Outcome.ERROR, ADVERTISED_UNKNOWN.format(name=auth.name, reply=reply), ""
    try:
        result.raise_for_outcome(host)
    except SASLError as exc:
        return Outcome.ERROR, str(exc), ""
    return Outcome.ERROR, reply, ""


def shown_lines(transcript: Iterable[TranscriptLine], plaintext: bool) -> tuple[str, ...]:
    """A try's transcript for printing: a plaintext mechanism's client lines as the
    profile redacts them (``TranscriptLine.redacted``), every other line as it went."""
    return tuple(
        line.redacted if plaintext and line.side == "C" else str(line) for line in transcript
    )


# --- probing ------------------------------------------------------------------------------


def probe(
    target: Target | str,
    *,
    username: str | None = None,
    password: str = "",
    cafile: str | None = None,
    insecure_tls: bool = False,
    timeout: float = 60.0,
    registry: Registry = default_registry,
    channel_binding: str | None = None,
    allow_plaintext: bool = False,
) -> Report:
    """List the mechanisms ``target`` advertises; with a ``username``, try each.

    ``channel_binding`` (``"tls-server-end-point"``, ``"tls-unique"``) lets the
    -PLUS mechanisms be tried, bound to each try's TLS connection.
    ``allow_plaintext`` lets PLAIN and LOGIN be tried without TLS (a target
    with ``tls="none"``); over TLS they are always tried.

    Raises ``ProbeFailed`` when the server cannot be reached, TLS fails or the
    mechanisms cannot be listed (``TLSUnavailable``: it offers no STARTTLS);
    every try's failure is in its ``Attempt``.
    """
    if isinstance(target, str):
        target = Target.from_url(target)
    settings = _Settings(
        target, cafile, insecure_tls, timeout, registry, channel_binding, allow_plaintext, username
    )
    session = settings.open()
    before, after = session.mechanisms_before_tls, session.mechanisms
    session.close()
    if target.tls == "none":  # the one list there is was read without TLS
        before, listed = after, None
    else:
        listed = after
    if username is None:
        return Report(target, before, listed, ())
    attempts = [_try(settings, _Login(name, username, password, registry)) for name in after]
    if any(a.outcome is Outcome.OK for a in attempts):
        # The password is good: a host-bound rejection may be the host name instead.
        attempts = [_other_hosts(settings, a, username, password) for a in attempts]
    diagnosed = diagnose(attempts)
    verdict, next_step = summarize(diagnosed)
    return Report(target, before, listed, diagnosed, verdict, next_step)


def _other_hosts(settings: _Settings, attempt: Attempt, username: str, password: str) -> Attempt:
    """A rejected host-bound try, tried again naming each realm its challenge offered."""
    host = settings.target.host
    if attempt.mechanism not in HOST_BOUND or attempt.outcome is not Outcome.REJECTED:
        return attempt
    tried = []
    for realm in _realms(attempt)[:MAX_OTHER_HOSTS]:
        if realm.lower() != host.lower():
            login = _Login(attempt.mechanism, username, password, settings.registry, realm)
            tried.append((realm, _try(settings, login).outcome))
    return replace(attempt, host=host, other_hosts=tuple(tried))


def _realms(attempt: Attempt) -> tuple[str, ...]:
    """The realms of the first DIGEST-MD5 challenge in the try's transcript, if any."""
    exchanges = read("\n".join(attempt.transcript))
    challenges = [m for m in exchanges[0].messages if m.side == "S"] if exchanges else []
    try:
        return parse_challenge(challenges[0].data()).realms
    except (IndexError, MalformedMessage):
        return ()


def _not_tried(info: MechanismInfo | None, encrypted: bool) -> NotTried:
    """Why the registry passed a mechanism over, checked in the registry's order."""
    if info is None or info.client is None or info.credential != "password":
        return NotTried.UNUSABLE
    if info.plaintext and not encrypted:
        return NotTried.PLAINTEXT
    if info.channel_binding:
        return NotTried.CHANNEL_BINDING if encrypted else NotTried.NO_TLS
    return NotTried.UNUSABLE


def _try(settings: _Settings, login: _Login) -> Attempt:
    name = login.name
    encrypted = settings.target.tls != "none"
    info = login.registry.get(name) if name in login.registry else None
    plaintext = info is not None and info.plaintext
    choice = login.registry.choose(
        [name],
        encrypted=encrypted,
        allow_plaintext=settings.allow_plaintext,
        channel_binding=encrypted and settings.binding_type is not None,
    )
    if info is None or not choice.usable:
        return Attempt(
            name,
            Outcome.SKIPPED,
            plaintext,
            detail=choice.passed_over[name],
            not_tried=_not_tried(info, encrypted),
        )
    if not info.channel_binding:  # the binding goes to -PLUS tries only, each judged alone
        settings = replace(settings, binding_type=None)
    try:
        session = settings.open()
    except SASLError as exc:
        return Attempt(name, Outcome.ERROR, plaintext, detail=f"no session for this try: {exc}")
    try:
        auth = login.auth(settings.target, session, settings.binding_type)
        started = time.monotonic()
        outcome, detail, session_refused = _authenticate(session, auth, settings.target.host)
        seconds = time.monotonic() - started
        lines = tuple(str(line) for line in auth.transcript)
        shown = shown_lines(auth.transcript, plaintext)
    except SASLError as exc:
        return Attempt(name, Outcome.ERROR, plaintext, detail=str(exc))
    finally:
        session.close()
    trips = sum(1 for line in lines if line.startswith("C: "))
    verified = None
    if outcome is not Outcome.OK and (exchanges := read("\n".join(lines))):
        target = settings.target
        verified = verify(
            exchanges[0],
            username=login.username,
            password=login.password,
            service=profile(target.protocol).service,
            host=target.host,
        )
    return Attempt(
        name,
        outcome,
        plaintext,
        trips,
        seconds,
        detail,
        verified=verified,
        session_refused=session_refused,
        transcript=lines,
        shown=shown,
    )


# --- diagnosis ----------------------------------------------------------------------------


def diagnose(attempts: Sequence[Attempt]) -> tuple[Attempt, ...]:
    """Each failed attempt with its ``diagnosis``, read against the others.

    Our client is correct (its vectors prove it), so a mechanism rejected while
    another works with the same password cannot work at this server; a
    plaintext one rejected while a shared-secret one works means the server's
    check of plaintext passwords is broken. Where ``verify`` judges our
    response wrong or malformed, the diagnosis says so too, without overruling
    the evidence of the tries.
    """
    evidence = _Evidence.of(attempts)
    return tuple(
        replace(a, diagnosis=_why(a, evidence)) if a.outcome is not Outcome.OK else a
        for a in attempts
    )


@dataclass(frozen=True)
class _Evidence:
    """What the tries together prove about the password."""

    works: tuple[str, ...]  # mechanisms that worked: the password is right
    plain_refused: tuple[str, ...]  # plaintext mechanisms rejected
    plain_untried: tuple[str, ...]  # plaintext mechanisms not tried without TLS

    @classmethod
    def of(cls, attempts: Sequence[Attempt]) -> _Evidence:
        ok = [a for a in attempts if a.outcome is Outcome.OK]
        return cls(
            # Plaintext first, PLAIN before LOGIN: the password itself is the evidence named.
            tuple(a.mechanism for a in sorted(ok, key=_evidence_order)),
            tuple(
                a.mechanism
                for a in sorted(attempts, key=_evidence_order)
                if a.plaintext and a.outcome is Outcome.REJECTED
            ),
            tuple(a.mechanism for a in attempts if a.not_tried is NotTried.PLAINTEXT),
        )


def _evidence_order(attempt: Attempt) -> tuple[bool, bool]:
    return not attempt.plaintext, attempt.mechanism != "PLAIN"


def _why(attempt: Attempt, evidence: _Evidence) -> str:
    if attempt.outcome is Outcome.SKIPPED:
        return ""
    if attempt.outcome is Outcome.ERROR:
        return attempt.detail
    accepted = [other for other, outcome in attempt.other_hosts if outcome is Outcome.OK]
    where = HOST_BOUND.get(attempt.mechanism, "")
    works = evidence.works
    if attempt.plaintext and works:
        why = PLAIN_CHECK_BROKEN.format(name=attempt.mechanism, other=works[0])
    elif attempt.plaintext:
        why = "the server refused the password itself: " + NOTHING_CHECKS
    elif accepted:
        return OTHER_NAME.format(
            name=attempt.mechanism, where=where, host=attempt.host, other=accepted[0]
        )
    elif works:
        why = CANNOT_WORK.format(plain=works[0], name=attempt.mechanism)
        if attempt.other_hosts:
            tried = ", ".join(f"'{other}'" for other, _ in attempt.other_hosts)
            why += NO_OTHER_NAME.format(host=attempt.host, where=where, tried=tried)
    elif evidence.plain_refused:
        why = f"{evidence.plain_refused[0]} was rejected too: {NOTHING_CHECKS}"
    elif evidence.plain_untried:
        untried = evidence.plain_untried
        plain = " and ".join(untried) + (" were" if len(untried) > 1 else " was")
        why = NO_CROSS_CHECK.format(name=attempt.mechanism, plain=plain)
    else:
        why = (
            "our response is correct for this password, so either the password is wrong "
            "or the server cannot verify this mechanism (no plaintext mechanism to tell)"
        )
    checked = attempt.verified
    if checked is not None and checked.verdict not in (CORRECT, UNVERIFIABLE):
        why += f" (verify disagrees: {checked.explanation})"
    return why


def summarize(attempts: Sequence[Attempt]) -> tuple[str, NextStep | None]:
    """The verdict on the whole server from diagnosed attempts, and a run that tells more."""
    if not attempts:
        return "nothing to try: the server advertised no mechanism on this connection", None
    tried = [a for a in attempts if a.outcome is not Outcome.SKIPPED]
    ok = [a for a in tried if a.outcome is Outcome.OK]
    untried = _names(a for a in attempts if a.outcome is Outcome.SKIPPED)
    not_tried = f"; not tried: {untried}" if untried else ""
    if not tried:
        return f"nothing could be tried{not_tried}", None
    if len(ok) == len(tried):
        every = (
            "the one mechanism tried works"
            if len(ok) == 1
            else f"all {len(ok)} mechanisms tried work"
        )
        return f"{every} ({_names(ok)}){not_tried}", None
    evidence = _Evidence.of(attempts)
    rejected = [a for a in tried if a.outcome is Outcome.REJECTED]
    plain_rejected = _names(a for a in rejected if a.plaintext)
    host_bound = _names(a for a in rejected if _other_name_works(a))
    secret_rejected = _names(a for a in rejected if not a.plaintext and not _other_name_works(a))
    parts = [f"{_names(ok)} {'works' if len(ok) == 1 else 'work'}" if ok else "none works"]
    next_step = None
    if secret_rejected and any(a.plaintext for a in ok):
        parts.append(SEED_VERDICT.format(rejected=secret_rejected, works=evidence.works[0]))
    elif secret_rejected and ok:
        parts.append(
            f"{secret_rejected} rejected the password {evidence.works[0]} accepts: advertised "
            "but cannot work (see their rows)"
        )
    elif plain_rejected and ok:
        parts.append(
            f"{plain_rejected} rejected, the password being right: {PLAIN_CHECK_BROKEN_CAUSE}"
        )
    elif plain_rejected:
        parts.append(
            f"every mechanism tried was rejected, {plain_rejected} included: {NOTHING_CHECKS}"
        )
    elif secret_rejected and evidence.plain_untried:
        parts.append(f"{secret_rejected} rejected: {CANNOT_TELL}")
        next_step = NextStep.ALLOW_PLAINTEXT
    elif secret_rejected:
        parts.append(
            f"{secret_rejected} rejected: a wrong password, or a server that cannot "
            "verify them (nothing here to tell which)"
        )
    if host_bound:
        parts.append(f"{host_bound}: the server checks the host name (see its row)")
    if failed := _names(a for a in tried if a.outcome is Outcome.ERROR):
        parts.append(f"{failed} failed (see the rows)")
    return "; ".join(parts) + not_tried, next_step


def _other_name_works(attempt: Attempt) -> bool:
    return any(outcome is Outcome.OK for _, outcome in attempt.other_hosts)


def _names(attempts: Iterable[Attempt]) -> str:
    return ", ".join(a.mechanism for a in attempts)


__all__ = [
    "SCHEMES",
    "Attempt",
    "NextStep",
    "NotTried",
    "Outcome",
    "ProbeFailed",
    "Report",
    "TLSUnavailable",
    "Target",
    "diagnose",
    "probe",
    "summarize",
]
