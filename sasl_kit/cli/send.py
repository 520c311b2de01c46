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
- Messages name this command's options, never the library's parameters.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sasl_kit.channel_binding import hook
from sasl_kit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    PASSWORD_ENV,
    TOKEN_ENV,
    CommandFailed,
    add_channel_binding_option,
    add_password_options,
    cell,
    password,
    secret,
    table,
)
from sasl_kit.errors import SASLError, UsageError
from sasl_kit.mail import Attachment, OutgoingMessage, compose
from sasl_kit.probe import Target
from sasl_kit.registry import default_registry
from sasl_kit.smtp import SendResult, SMTPClient, Status, TLSMode
from sasl_kit.smtp.errors import CredentialsRejected, OutcomeUnknown, TLSRequired

EXIT_SESSION_FAILED, EXIT_OUTCOME_UNKNOWN = 3, 4
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


def register(commands: Any) -> None:
    p = commands.add_parser(
        "send",
        allow_abbrev=False,
        help="send a mail over SMTP, with attachments",
        description="Compose a mail and submit it. smtp://HOST[:PORT] uses STARTTLS "
        "(port 587), smtps://HOST[:PORT] implicit TLS (port 465). With --username the "
        "session authenticates; the password comes from --password, else "
        f"--password-file, else ${PASSWORD_ENV}; an OAuth bearer token from --token, else "
        f"--token-file, else ${TOKEN_ENV}. Exit status: 0 sent to every recipient, "
        "1 the message or some recipients refused, 2 bad input, 3 connection, TLS or "
        "authentication failed, 4 the outcome is unknown (the message may have been sent).",
    )
    p.set_defaults(command=send)
    p.add_argument("--server", required=True, metavar="URL", help="smtp[s]://host[:port]")
    p.add_argument("--username", help="authenticate as this user (no AUTH without it)")
    add_password_options(p)
    p.add_argument("--token", help="an OAuth 2.0 bearer token (OAUTHBEARER, XOAUTH2)")
    p.add_argument("--token-file", metavar="FILE", help="the token is FILE's first line")
    p.add_argument("--mechanism", action="append", metavar="MECH", help="allow only MECH (repeat)")
    p.add_argument("--from", dest="sender", required=True, metavar="ADDRESS", help="the sender")
    for name in ("to", "cc", "bcc"):
        p.add_argument(f"--{name}", action="append", default=[], metavar="ADDRESS", help="repeat")
    p.add_argument("--subject", required=True)
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the text body")
    body.add_argument("--body-file", metavar="FILE", help="the text body, from a UTF-8 file")
    p.add_argument("--html-file", metavar="FILE", help="an HTML body, from a UTF-8 file")
    p.add_argument("--attach", action="append", default=[], metavar="PATH", help="repeat")
    p.add_argument("--no-tls", action="store_true", help="smtp:// without STARTTLS")
    p.add_argument("--cafile", metavar="FILE", help="also trust the certificates in FILE")
    p.add_argument("--insecure-tls", action="store_true", help="do not verify the certificate")
    p.add_argument(
        "--allow-plaintext", action="store_true", help="allow credentials without TLS (--no-tls)"
    )
    add_channel_binding_option(p)
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="default 60")
    p.add_argument("-v", "--verbose", action="store_true", help="C:/S: transcript on stderr")
    p.add_argument("--json", action="store_true", help="print JSON")


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: TLSMode


def send(args: argparse.Namespace) -> int:
    server = _server(args)
    passphrase = token = ""
    if args.username is not None:
        passphrase = password(args)
        token = secret(args.token, args.token_file, TOKEN_ENV, "token")
    elif {args.password, args.password_file, args.token, args.token_file} != {None}:
        raise CommandFailed("a password or token needs --username")
    if args.username is not None and server.tls == "none" and not args.allow_plaintext:
        raise CommandFailed(
            "--no-tls with --username sends credentials in the clear: "
            "add --allow-plaintext to do so"
        )
    if not args.timeout > 0:
        raise CommandFailed("--timeout must be a positive number of seconds")
    for name in args.mechanism or ():
        default_registry.get(name)  # UnknownMechanism (exit 2) before connecting
    message = _message(args)
    watch = _AuthWatch(args.verbose)
    bar = _bar(message) if not args.verbose else None
    client = SMTPClient(
        server.host,
        server.port,
        tls=server.tls,
        timeout=args.timeout,
        cafile=args.cafile,
        insecure_tls=args.insecure_tls,
        transcript=watch,
        channel_binding=None if args.channel_binding is None else hook(args.channel_binding),
    )
    mechanism = None
    try:
        with client:
            if args.username is not None:
                mechanism = client.login(
                    args.username,
                    passphrase,
                    mechanisms=args.mechanism,
                    require_tls=not args.allow_plaintext,
                    allow_plaintext=args.allow_plaintext,
                    token=token or None,
                )
            result = client.send(message, progress=bar)
    except OutcomeUnknown as exc:
        _print(args, exc.result, mechanism)
        raise CommandFailed(str(exc), EXIT_OUTCOME_UNKNOWN) from None
    except UsageError:  # MessageError included: an attachment changed or became unreadable
        raise
    except CredentialsRejected as exc:
        hint = _probe_hint(args, server, watch.mechanism, client.extensions.auth)
        raise CommandFailed(str(exc) + hint, EXIT_SESSION_FAILED) from None
    except TLSRequired as exc:
        if exc.code is not None:  # the server's 538
            raise CommandFailed(str(exc), EXIT_SESSION_FAILED) from None
        raise CommandFailed(NO_STARTTLS.format(host=server.host), EXIT_SESSION_FAILED) from None
    except SASLError as exc:
        raise CommandFailed(str(exc), EXIT_SESSION_FAILED) from None
    finally:
        if bar is not None:
            bar.close()
    _print(args, result, mechanism)
    if result.status is Status.SENT:
        return EXIT_OK
    return EXIT_FAILED


def _server(args: argparse.Namespace) -> Server:
    """smtp://host[:port] is STARTTLS on 587 (plain with --no-tls), smtps:// TLS on 465."""
    try:
        target = Target.from_url(args.server)  # the URL rules ``probe`` uses too
    except UsageError as exc:
        raise CommandFailed(f"--server: {exc}") from None
    if target.protocol != "smtp":
        raise CommandFailed("--server: expected smtp:// or smtps://")
    tls: TLSMode = target.tls
    if args.no_tls:
        if tls == "implicit":
            raise CommandFailed("--no-tls goes with smtp://, not smtps://")
        tls = "none"
    return Server(target.host, target.port, tls)


def _read(option: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandFailed(f"{option}: cannot read {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandFailed(f"{option}: {path!r} is not UTF-8") from None


def _message(args: argparse.Namespace) -> OutgoingMessage:
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


def _probe_hint(
    args: argparse.Namespace, server: Server, mechanism: str | None, offered: tuple[str, ...]
) -> str:
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
        f"--username {shlex.quote(args.username)}",
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


def _print(args: argparse.Namespace, result: SendResult, mechanism: str | None) -> None:
    if args.json:
        print(
            json.dumps(
                {
                    "status": result.status.value,
                    "code": result.code,
                    "text": result.text,
                    "mechanism": mechanism,
                    "recipients": [
                        {
                            "address": r.address,
                            "accepted": r.accepted,
                            "code": r.code,
                            "text": r.text,
                        }
                        for r in result.recipients
                    ],
                },
                indent=2,
            )
        )
        return
    rows = [
        [r.address, cell(r.accepted), "" if r.code is None else str(r.code), r.text]
        for r in result.recipients
    ]
    print(table(["recipient", "accepted", "code", "reply"], rows))
    final = f"{result.code} {result.text}".strip() if result.code is not None else result.text
    print(f"{result.status.value}: {final}" if final else result.status.value)
