"""``sasl-kit probe``: what a live server advertises and accepts (docs/probe.md).

Rules of this module:
- The URL and the options are checked before anything goes on the wire.
- Exit status: 0 every mechanism tried worked (or none was tried), 1 some
  mechanism was rejected or failed, 2 bad input, 3 the server could not be
  probed at all (connection, TLS, no capability list).
- Transcripts (``-v``) never show a plaintext mechanism's payload.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sasl_kit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    PASSWORD_ENV,
    CommandFailed,
    add_channel_binding_option,
    add_password_options,
    password,
    table,
)
from sasl_kit.probe import SCHEMES, Attempt, Outcome, ProbeFailed, Report, Target, probe

EXIT_UNREACHABLE = 3


def register(commands: Any) -> None:
    p = commands.add_parser(
        "probe",
        allow_abbrev=False,
        help="list and try the mechanisms a live server advertises",
        description="List the SASL mechanisms URL advertises before and after TLS; with "
        "--username, try each in a fresh connection and say why each failure failed. "
        f"URL: {', '.join(f'{s}://' for s in SCHEMES)} HOST[:PORT]; the plain schemes use "
        "STARTTLS (default ports 587, 143, 110), the s schemes implicit TLS (465, 993, 995). "
        f"The password comes from --password, else --password-file, else ${PASSWORD_ENV}. "
        "Exit status: 0 every mechanism tried worked, 1 some did not, 2 bad input, "
        "3 the server could not be probed.",
    )
    p.set_defaults(command=run)
    p.add_argument("url", metavar="URL", help="e.g. imap://mail.example.org")
    p.add_argument("--username", help="try every mechanism as this user (else only list)")
    add_password_options(p)
    p.add_argument("--cafile", metavar="FILE", help="also trust the certificates in FILE")
    p.add_argument("--insecure-tls", action="store_true", help="do not verify the certificate")
    add_channel_binding_option(p)
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="default 60")
    p.add_argument("-v", "--verbose", action="store_true", help="print each try's transcript")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    target = Target.from_url(args.url)  # UsageError: exit 2
    if args.username is None and (args.password is not None or args.password_file is not None):
        raise CommandFailed("a password needs --username")
    if not args.timeout > 0:
        raise CommandFailed("--timeout must be a positive number of seconds")
    secret = password(args) if args.username is not None else ""
    try:
        report = probe(
            target,
            username=args.username,
            password=secret,
            cafile=args.cafile,
            insecure_tls=args.insecure_tls,
            timeout=args.timeout,
            channel_binding=args.channel_binding,
        )
    except ProbeFailed as exc:
        raise CommandFailed(str(exc), EXIT_UNREACHABLE) from None
    print(json.dumps(as_json(report), indent=2) if args.json else text(report, args.verbose))
    failed = any(a.outcome in (Outcome.REJECTED, Outcome.ERROR) for a in report.attempts)
    return EXIT_FAILED if failed else EXIT_OK


def text(report: Report, verbose: bool) -> str:
    target = report.target
    before = "(implicit TLS)" if report.before_tls is None else _names(report.before_tls)
    lines = [
        f"{target.url} ({'STARTTLS' if target.tls == 'starttls' else 'implicit TLS'})",
        f"advertised before TLS: {before}",
        f"advertised after TLS:  {_names(report.after_tls)}",
    ]
    if report.attempts:
        rows = [_row(a) for a in report.attempts]
        lines += ["", table(["mechanism", "outcome", "round trips", "time", "diagnosis"], rows)]
    if verbose:
        for attempt in report.attempts:
            if attempt.transcript:
                lines += ["", f"{attempt.mechanism}:", *attempt.shown_transcript()]
    return "\n".join(lines)


def _names(names: tuple[str, ...]) -> str:
    return " ".join(names) if names else "(none)"


def _row(attempt: Attempt) -> list[str]:
    tried = attempt.outcome is not Outcome.SKIPPED
    return [
        attempt.mechanism,
        attempt.outcome.value,
        str(attempt.round_trips) if tried else "-",
        f"{attempt.seconds * 1000:.0f} ms" if attempt.seconds is not None else "-",
        attempt.diagnosis or (attempt.detail if not tried else ""),
    ]


def as_json(report: Report) -> dict[str, object]:
    target = report.target
    return {
        "url": target.url,
        "protocol": target.protocol,
        "host": target.host,
        "port": target.port,
        "tls": target.tls,
        "before_tls": None if report.before_tls is None else list(report.before_tls),
        "after_tls": list(report.after_tls),
        "attempts": [
            {
                "mechanism": a.mechanism,
                "outcome": a.outcome.value,
                "round_trips": a.round_trips,
                "seconds": a.seconds,
                "detail": a.detail,
                "diagnosis": a.diagnosis,
                "other_hosts": [{"host": h, "outcome": o.value} for h, o in a.other_hosts],
                "transcript": list(a.shown_transcript()),
            }
            for a in report.attempts
        ],
    }
