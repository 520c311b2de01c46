"""``sasl-kit send``: compose a mail and submit it over SMTP (docs/cli.md).

Rules of this module:
- Everything the command can check alone (the URL, the options, the addresses,
  the files) is checked before it connects: bad input is exit 2 and nothing
  goes on the wire.
- The exit status says what a retrying caller needs to know: 0 every recipient
  took the message, 1 the server refused the message or some recipients
  (the result says which, and whether for now), 2 the input was wrong,
  3 the session failed (connection, TLS, authentication, a 4xx or 5xx to a
  session command) and nothing was delivered, 4 the outcome is unknown: the
  message may have been delivered.
- stdout carries the result only; the transcript (``-v``) and the progress
  bar go to stderr. The transcript comes redacted from ``SMTPClient``.
- A 535 stops the session (RFC 4954): nothing is retried. When the refused
  mechanism was a challenge-response one and the server also offers PLAIN or
  LOGIN, the error gets one more line pointing to ``sasl-kit probe``, which
  can tell a wrong password from a server that cannot verify that mechanism.
- A message the client refuses before saying MAIL (over the server's SIZE,
  8-bit data without 8BITMIME, SMTPUTF8 or DSN not offered) is exit 3 with one
  line saying why and that nothing was sent: no server saw it.
- ``--quit-after STAGE`` stops there (swaks' test controls): exit 0 when every
  step up to it succeeded, nothing after it is sent.
- Options on the command line win over an account (``--account``, see
  ``accounts``); messages name this command's options, never the library's
  parameters.

``sendmail`` (the sendmail(8) interface) runs the same ``deliver`` and maps its
``Failure.kind`` to sysexits.
"""

from __future__ import annotations

import argparse
import json
import shlex
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from sasl_kit.channel_binding import hook
from sasl_kit.cli import accounts
from sasl_kit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    PASSWORD_ENV,
    TOKEN_ENV,
    CommandFailed,
    add_channel_binding_option,
    add_password_options,
    cell,
    secret,
    table,
)
from sasl_kit.errors import SASLError, UsageError
from sasl_kit.mail import Attachment, compose
from sasl_kit.mail.ready import ready
from sasl_kit.probe import Target
from sasl_kit.registry import default_registry
from sasl_kit.smtp import DSN, EnvelopeResult, SendResult, SMTPClient, Status, TLSMode
from sasl_kit.smtp.client import ConnectStage
from sasl_kit.smtp.data import OutgoingMessage
from sasl_kit.smtp.errors import (
    CommandRejected,
    ConnectionFailed,
    CredentialsRejected,
    NoUsableMechanism,
    OutcomeUnknown,
    TemporaryFailure,
    TLSRequired,
)

EXIT_SESSION_FAILED, EXIT_OUTCOME_UNKNOWN = 3, 4
EXIT_STATUSES = {
    EXIT_SESSION_FAILED: "the session failed (connection, TLS, authentication)",
    EXIT_OUTCOME_UNKNOWN: "the outcome is unknown",
}
"""This command's statuses beyond ``common``'s, for the top-level help."""
NO_STARTTLS = (
    "{host} does not offer STARTTLS: add --no-tls to send without TLS (with --username, "
    "also --allow-plaintext: the credentials then cross in the clear)"
)
PROBE_HINT = (
    "\nhint: the server also offers {plain}; `{command}` (same password) tells whether it "
    "can verify {mechanism} at all (Cyrus SASL checking passwords through saslauthd cannot)"
)
PROGRESS_FROM = 1 << 20
"""Messages at least this large get a progress bar (when stderr is a terminal)."""


QUIT_AFTER = ("connect", "ehlo", "tls", "auth", "mail", "rcpt")
"""swaks' ``--quit-after`` stages, in session order."""
ACCOUNT_KEYS = {
    "server": "server",
    "username": "username",
    "cafile": "cafile",
    "channel_binding": "channel_binding",
    "ehlo": "ehlo",
    "from": "sender",
    "mechanisms": "mechanism",
    "allow_plaintext": "allow_plaintext",
}
"""Account key -> ``args`` attribute, for ``send``, ``sendmail`` and ``probe``'s own."""
_CONNECT_STAGES: dict[str, ConnectStage] = {"connect": "greeting", "ehlo": "ehlo"}
Kind = Literal["usage", "nohost", "unavailable", "tempfail", "noperm", "unknown", "refused"]


class Failure(CommandFailed):
    """A failed delivery: ``status`` for ``send``, ``kind`` for ``sendmail``'s sysexits;
    ``result`` the message's rows when the outcome is unknown."""

    def __init__(
        self, message: str, status: int, kind: Kind, result: SendResult | None = None
    ) -> None:
        super().__init__(message, status)
        self.kind = kind
        self.result = result


def register(commands: Any) -> None:
    p = commands.add_parser(
        "send",
        allow_abbrev=False,
        help="send a mail over SMTP, with attachments",
        description="Compose a mail (or take a ready one with --data) and submit it. "
        "smtp://HOST[:PORT] uses STARTTLS (port 587), smtps://HOST[:PORT] implicit TLS "
        "(port 465). With --username the session authenticates; the password comes from "
        f"--password, else --password-file, else ${PASSWORD_ENV}, else the account; an OAuth "
        f"bearer token from --token, else --token-file, else ${TOKEN_ENV}. Exit status: 0 "
        "sent to every recipient (or every step up to --quit-after worked), 1 the message "
        "or some recipients refused, 2 bad input, 3 connection, TLS or authentication "
        "failed, or the client refused the message before sending it, 4 the outcome is "
        "unknown (the message may have been sent).",
    )
    p.set_defaults(command=send)
    p.add_argument("--server", metavar="URL", help="smtp[s]://host[:port] (or the account's)")
    p.add_argument("--username", help="authenticate as this user (no AUTH without it)")
    add_password_options(p)
    p.add_argument("--token", help="an OAuth 2.0 bearer token (OAUTHBEARER, XOAUTH2)")
    p.add_argument("--token-file", metavar="FILE", help="the token is FILE's first line")
    p.add_argument("--mechanism", action="append", metavar="MECH", help="allow only MECH (repeat)")
    accounts.add_account_options(p)
    p.add_argument(
        "--from",
        dest="sender",
        metavar="ADDRESS",
        help="the sender (with --data: default the From field's address)",
    )
    for name in ("to", "cc", "bcc"):
        p.add_argument(f"--{name}", action="append", default=[], metavar="ADDRESS", help="repeat")
    p.add_argument("--subject", help="the subject (not with --data)")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the text body")
    body.add_argument(
        "--body-file", metavar="FILE", help="the text body, from a UTF-8 file (- stdin)"
    )
    body.add_argument(
        "--data", metavar="FILE", help="send this ready RFC 5322 message as it is (- for stdin)"
    )
    p.add_argument(
        "-t",
        "--read-recipients",
        action="store_true",
        help="with --data: recipients from To, Cc, Bcc; Bcc removed (sendmail -t)",
    )
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add or replace a header (repeat)",
    )
    p.add_argument("--html-file", metavar="FILE", help="an HTML body, from a UTF-8 file")
    p.add_argument("--attach", action="append", default=[], metavar="PATH", help="repeat")
    p.add_argument("--no-tls", action="store_true", help="smtp:// without STARTTLS")
    p.add_argument("--cafile", metavar="FILE", help="also trust the certificates in FILE")
    p.add_argument("--insecure-tls", action="store_true", help="do not verify the certificate")
    p.add_argument(
        "--allow-plaintext", action="store_true", help="allow credentials without TLS (--no-tls)"
    )
    add_channel_binding_option(p)
    p.add_argument("--ehlo", metavar="NAME", help="the name to give in EHLO (default [our IP])")
    p.add_argument(
        "--quit-after",
        choices=QUIT_AFTER,
        metavar="STAGE",
        help=f"stop after {'|'.join(QUIT_AFTER)} and report (a test of the server)",
    )
    p.add_argument(
        "--dsn-notify", metavar="WHEN", help="NEVER, or SUCCESS,FAILURE,DELAY (RFC 3461)"
    )
    p.add_argument(
        "--dsn-ret",
        choices=("FULL", "HDRS"),
        type=str.upper,
        metavar="FULL|HDRS",
        help="what a bounce returns",
    )
    p.add_argument("--dsn-envid", metavar="ID", help="an envelope id for the DSNs")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="default 60")
    p.add_argument("-v", "--verbose", action="store_true", help="C:/S: transcript on stderr")
    p.add_argument("--json", action="store_true", help="print JSON")  # fmt: skip


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: TLSMode


@dataclass
class Plan:
    """Everything a delivery needs, checked: made by ``send`` and ``sendmail``."""

    server: Server
    message: OutgoingMessage | None
    sender: str = ""
    recipients: tuple[str, ...] = ()
    username: str | None = None
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    mechanisms: list[str] | None = None
    allow_plaintext: bool = False
    cafile: str | None = None
    insecure_tls: bool = False
    channel_binding: str | None = None
    ehlo: str | None = None
    dsn: DSN | None = None
    quit_after: str | None = None
    timeout: float = 60.0
    verbose: bool = False
    no_starttls: str = field(default=NO_STARTTLS, repr=False)
    """What to say when the server offers no STARTTLS (``{host}``), in the caller's terms."""


@dataclass(frozen=True)
class Delivered:
    """How far a delivery got: the message's result, or the envelope's, and the mechanism."""

    mechanism: str | None
    result: SendResult | None = None
    envelope: EnvelopeResult | None = None
    stage: str | None = None


def send(args: argparse.Namespace) -> int:
    account = accounts.load(args)
    accounts.fill(args, account, ACCOUNT_KEYS)
    if account is not None and account.get("tls") == "none":
        args.no_tls = True
    plan = plan_of(args, account)
    if args.read_recipients and args.data is None:
        raise CommandFailed("-t/--read-recipients reads a ready message: give --data")
    try:
        outcome = deliver(plan)
    except Failure as exc:
        if exc.result is not None:
            _print(args, Delivered(None, result=exc.result))
        raise
    _print(args, outcome)
    if outcome.result is not None and outcome.result.status is not Status.SENT:
        return EXIT_FAILED
    if outcome.envelope is not None and not outcome.envelope.ok:
        return EXIT_FAILED
    return EXIT_OK


def plan_of(args: argparse.Namespace, account: accounts.Account | None) -> Plan:
    """Check ``send``'s options (and the account's) and build the message: exit 2 on any fault."""
    if args.server is None:
        raise CommandFailed("--server is required (or an --account that names one)")
    server = _server(args, account)
    passphrase = token = ""
    if args.username is not None:
        passphrase = accounts.password(args, account)
        token = secret(args.token, args.token_file, TOKEN_ENV, "token")
    elif {args.password, args.password_file, args.token, args.token_file} != {None}:
        raise CommandFailed("a password or token needs --username")
    if args.username is not None and server.tls == "none" and not args.allow_plaintext:
        raise CommandFailed(
            "--no-tls with --username sends credentials in the clear: "
            "add --allow-plaintext to do so"
        )
    if args.channel_binding is not None and server.tls == "none":
        raise CommandFailed("--channel-binding binds to TLS: it cannot go with --no-tls")
    if not args.timeout > 0:
        raise CommandFailed("--timeout must be a positive number of seconds")
    for name in args.mechanism or ():
        default_registry.get(name)  # UnknownMechanism (exit 2) before connecting
    headers = [_header_option(h) for h in args.header]
    dsn = _dsn(args)
    message = None  # stopping before MAIL: no message needed
    if args.quit_after in (None, "mail", "rcpt"):
        message = _message(args, headers)
    return Plan(
        server=server,
        message=message,
        sender=message.sender if message is not None else (args.sender or ""),
        recipients=message.recipients if message is not None else (),
        username=args.username,
        password=passphrase,
        token=token,
        mechanisms=args.mechanism,
        allow_plaintext=args.allow_plaintext,
        cafile=args.cafile,
        insecure_tls=args.insecure_tls,
        channel_binding=args.channel_binding,
        ehlo=args.ehlo,
        dsn=dsn,
        quit_after=args.quit_after,
        timeout=args.timeout,
        verbose=args.verbose,
    )


def deliver(plan: Plan) -> Delivered:
    """Run the session the plan asks for; a failure is ``Failure`` (status and kind)."""
    server = plan.server
    try:
        socket.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Failure(f"cannot resolve {server.host!r}", EXIT_SESSION_FAILED, "nohost") from None
    watch = _AuthWatch(plan.verbose)
    bar = _bar(plan.message) if plan.message is not None and not plan.verbose else None
    client = SMTPClient(
        server.host,
        server.port,
        tls=server.tls,
        timeout=plan.timeout,
        cafile=plan.cafile,
        insecure_tls=plan.insecure_tls,
        local_hostname=plan.ehlo,
        transcript=watch,
        channel_binding=None if plan.channel_binding is None else hook(plan.channel_binding),
    )
    mechanism = None
    stop = plan.quit_after
    try:
        client.connect(stop_after=_CONNECT_STAGES.get(stop or ""))
        try:
            if stop in ("connect", "ehlo", "tls"):
                return Delivered(None, stage=stop)
            if plan.username is not None:
                mechanism = client.login(
                    plan.username,
                    plan.password,
                    mechanisms=plan.mechanisms,
                    require_tls=not plan.allow_plaintext,
                    allow_plaintext=plan.allow_plaintext,
                    token=plan.token or None,
                )
            if stop == "auth":
                return Delivered(mechanism, stage=stop)
            if stop in ("mail", "rcpt"):
                recipients = plan.recipients if stop == "rcpt" else ()
                envelope = client.check_envelope(plan.sender, recipients, dsn=plan.dsn)
                return Delivered(mechanism, envelope=envelope, stage=stop)
            assert plan.message is not None
            result = client.send(plan.message, dsn=plan.dsn, progress=bar)
        finally:
            client.quit()
    except OutcomeUnknown as exc:
        raise Failure(str(exc), EXIT_OUTCOME_UNKNOWN, "unknown", exc.result) from None
    except UsageError:  # MessageError included: an attachment changed or became unreadable
        raise
    except CredentialsRejected as exc:
        hint = _probe_hint(plan, server, watch.mechanism, client.extensions.auth)
        raise Failure(str(exc) + hint, EXIT_SESSION_FAILED, "noperm") from None
    except NoUsableMechanism as exc:
        raise Failure(_no_usable(plan, exc), EXIT_SESSION_FAILED, "unavailable") from None
    except TLSRequired as exc:
        if exc.code is not None:  # the server's 538
            raise Failure(str(exc), EXIT_SESSION_FAILED, "noperm") from None
        message = plan.no_starttls.format(host=server.host)
        raise Failure(message, EXIT_SESSION_FAILED, "unavailable") from None
    except (TemporaryFailure, ConnectionFailed) as exc:
        raise Failure(str(exc), EXIT_SESSION_FAILED, "tempfail") from None
    except CommandRejected as exc:
        raise Failure(str(exc), EXIT_SESSION_FAILED, "unavailable") from None
    except SASLError as exc:  # a policy refusal, the server's broken protocol
        raise Failure(str(exc), EXIT_SESSION_FAILED, "unavailable") from None
    finally:
        if bar is not None:
            bar.close()
    if result.local:
        raise Failure(
            f"not sent: {result.text}; nothing went to {server.host}",
            EXIT_SESSION_FAILED,
            "refused",
        )
    return Delivered(mechanism, result=result)


CLI_REASONS: dict[str, str | None] = {
    "not in the allow list": None,  # said once, as --mechanism
    "needs TLS channel-binding data, and there is none": "needs --channel-binding TYPE",
    "needs a password, and the caller has none": "needs a password (--password, --password-file)",
    "needs an OAuth bearer token, and the caller has none": "needs --token or --token-file",
    "sends its secret in the clear on an unencrypted connection": "sends the password in "
    "the clear: needs TLS, or --allow-plaintext",
}
"""The registry's reasons for passing a mechanism over, in ``send``'s options (``None``:
left out of the list)."""


def _no_usable(plan: Plan, exc: NoUsableMechanism) -> str:
    """Why no offered mechanism was usable, in the command's options."""
    text = f"no usable AUTH mechanism at {plan.server.host}"
    if plan.mechanisms:
        offered = set(exc.offered)
        missing = [name.upper() for name in plan.mechanisms if name.upper() not in offered]
        if missing:
            text += (
                f": it does not offer {', '.join(missing)} (--mechanism); "
                f"it offers {' '.join(exc.offered) or 'none'}"
            )
    rows = [
        f"{name}: {said}"
        for name, why in exc.passed_over.items()
        if (said := CLI_REASONS.get(why, why)) is not None
    ]
    return text + (f" ({'; '.join(rows)})" if rows else "")


def _server(
    args: argparse.Namespace, account: accounts.Account | None = None, source: str = "--server"
) -> Server:
    """smtp://host[:port] is STARTTLS on 587 (plain with --no-tls), smtps:// TLS on 465.
    ``source`` names where the URL came from in messages (``sendmail``: the account)."""
    try:
        target = Target.from_url(args.server)  # the URL rules ``probe`` uses too
    except UsageError as exc:
        raise CommandFailed(f"{source}: {exc}") from None
    if target.protocol != "smtp":
        raise CommandFailed(f"{source}: expected smtp:// or smtps://")
    tls: TLSMode = target.tls
    wanted = account.get("tls") if account is not None else None
    if wanted is not None and wanted != tls and (wanted != "none" or tls == "implicit"):
        raise CommandFailed(
            f"account {account.name!r}: tls = {wanted!r} does not fit {args.server}"  # type: ignore[union-attr]
            " (smtps:// is implicit TLS, smtp:// STARTTLS)"
        )
    if args.no_tls:
        if tls == "implicit":
            raise CommandFailed("--no-tls goes with smtp://, not smtps://")
        tls = "none"
    return Server(target.host, target.port, tls)


def _read(option: str, path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandFailed(f"{option}: cannot read {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandFailed(f"{option}: {path!r} is not UTF-8") from None


def read_bytes(option: str, path: str) -> bytes:
    """A file's bytes, or standard input's for ``-``."""
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CommandFailed(f"{option}: cannot read {path!r}: {exc.strerror}") from None


def _header_option(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise CommandFailed("--header takes 'Name: value'")
    return name.strip(), value.strip()


def _dsn(args: argparse.Namespace) -> DSN | None:
    if args.dsn_notify is None and args.dsn_ret is None and args.dsn_envid is None:
        return None
    notify = tuple(w.strip().upper() for w in (args.dsn_notify or "").split(",") if w.strip())
    try:
        return DSN(ret=args.dsn_ret, envid=args.dsn_envid, notify=notify)
    except UsageError:
        raise CommandFailed("--dsn-notify takes NEVER, or any of SUCCESS,FAILURE,DELAY") from None


def _message(args: argparse.Namespace, headers: list[tuple[str, str]]) -> OutgoingMessage:
    if args.data is not None:
        if args.subject is not None or args.html_file is not None or args.attach:
            raise CommandFailed(
                "--data sends a ready message: no --subject, --html-file or --attach "
                "(use --header for fields)"
            )
        return ready(
            read_bytes("--data", args.data),
            sender=args.sender,
            recipients=[*args.to, *args.cc, *args.bcc],
            read_recipients=args.read_recipients,
            headers=headers,
        )
    if args.sender is None or args.subject is None:
        raise CommandFailed("--from and --subject are required (or --data with a ready message)")
    text = _read("--body-file", args.body_file) if args.body_file is not None else args.body
    html = _read("--html-file", args.html_file) if args.html_file is not None else None
    return compose(
        sender=args.sender,
        to=args.to,
        cc=args.cc,
        bcc=args.bcc,
        subject=args.subject,
        text=text,
        html=html,
        attachments=[Attachment(path=path) for path in args.attach],
        headers=dict(headers),
    )


class _AuthWatch:
    """The transcript callback: notes the mechanism of the last AUTH; with -v prints each line."""

    def __init__(self, verbose: bool) -> None:
        self._verbose = verbose
        self.mechanism: str | None = None

    def __call__(self, line: str) -> None:
        if line.startswith("C: AUTH "):
            self.mechanism = line.split(" ")[2].upper()
        if self._verbose:
            print(line, file=sys.stderr, flush=True)


def _probe_hint(plan: Plan, server: Server, mechanism: str | None, offered: tuple[str, ...]) -> str:
    """One more line after a 535 to a challenge-response mechanism, where probe can tell more."""
    if mechanism is None or mechanism not in default_registry:
        return ""
    plain = [name for name in ("PLAIN", "LOGIN") if name in offered]
    if default_registry.get(mechanism).plaintext or not plain:
        return ""
    scheme = "smtps" if server.tls == "implicit" else "smtp"
    host = f"[{server.host}]" if ":" in server.host else server.host
    options = " --no-tls --allow-plaintext" if server.tls == "none" else ""
    return PROBE_HINT.format(
        mechanism=mechanism,
        plain=" and ".join(plain),
        command=f"sasl-kit probe {scheme}://{host}:{server.port}{options} "
        f"--username {shlex.quote(plan.username or '')}",
    )


class ProgressBar:
    """``[#####.....]  52%  13.1/25.2 MiB`` redrawn in place on a terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown = -1
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent == self._shown:
            return
        self._shown, self._drawn = percent, True
        filled = self.WIDTH * percent // 100
        bar = "#" * filled + "." * (self.WIDTH - filled)
        mib = f"{done / (1 << 20):.1f}/{total / (1 << 20):.1f} MiB"
        self._stream.write(f"\r[{bar}] {percent:3d}%  {mib}")
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def _bar(message: OutgoingMessage) -> ProgressBar | None:
    if sys.stderr.isatty() and message.size() >= PROGRESS_FROM:
        return ProgressBar(sys.stderr)
    return None


def _print(args: argparse.Namespace, outcome: Delivered) -> None:
    result, envelope = outcome.result, outcome.envelope
    rows = result.recipients if result is not None else envelope.recipients if envelope else ()
    if args.json:
        report: dict[str, object] = {"mechanism": outcome.mechanism}
        if outcome.stage is not None:
            report["quit_after"] = outcome.stage
        if result is not None:
            report |= {"status": result.status.value, "code": result.code, "text": result.text}
        if envelope is not None:
            report |= {"mail": {"code": envelope.code, "text": envelope.text}}
        report["recipients"] = [
            {"address": r.address, "accepted": r.accepted, "code": r.code, "text": r.text}
            for r in rows
        ]
        print(json.dumps(report, indent=2))
        return
    if rows:
        print(table(
            ["recipient", "accepted", "code", "reply"],
            [[r.address, cell(r.accepted), "" if r.code is None else str(r.code), r.text]
             for r in rows],
        ))  # fmt: skip
    if result is not None:
        final = f"{result.code} {result.text}".strip() if result.code is not None else result.text
        print(f"{result.status.value}: {final}" if final else result.status.value)
        return
    done = f"stopped after {outcome.stage}"
    if outcome.mechanism is not None:
        done += f"; authenticated with {outcome.mechanism}"
    if envelope is not None:
        done += f"; MAIL FROM: {envelope.code} {envelope.text}".rstrip()
    print(done + "; nothing was sent")
