"""``sasl-kit probe``: what a live server advertises and accepts (docs/probe.md).

Rules of this module:
- The URL and the options are checked before anything goes on the wire.
- Exit status: 0 every mechanism tried worked (or none was tried), 1 some
  mechanism was rejected or failed, 2 bad input, 3 the server could not be
  probed at all (connection, TLS, no capability list).
- Transcripts (``-v``) never show a plaintext mechanism's payload.
- Every message names this command's options (``--no-tls``), never the
  library's parameters: the library's reasons come as codes (``NotTried``,
  ``NextStep``, ``TLSUnavailable``) and are worded here.
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from sasl_kit.cli import accounts
from sasl_kit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    PASSWORD_ENV,
    CommandFailed,
    add_channel_binding_option,
    add_password_options,
    table,
)
from sasl_kit.probe import (
    SCHEMES,
    Attempt,
    NextStep,
    NotTried,
    Outcome,
    ProbeFailed,
    Report,
    Target,
    TLSUnavailable,
    probe,
)
from sasl_kit.protocols import TLSMode, profile

EXIT_UNREACHABLE = 3
EXIT_STATUSES = {EXIT_UNREACHABLE: "the server could not be probed"}
"""This command's statuses beyond ``common``'s, for the top-level help."""
NOT_TRIED = {
    NotTried.PLAINTEXT: "it sends the password in the clear and there is no TLS "
    "(--allow-plaintext tries it)",
    NotTried.CHANNEL_BINDING: "it binds to the TLS channel (--channel-binding TYPE tries it)",
    NotTried.NO_TLS: "it binds to the TLS channel, and with --no-tls there is none",
}
NO_STARTTLS = (
    "{reason}: add --no-tls to probe it without TLS (and --allow-plaintext to try PLAIN "
    "and LOGIN in the clear)"
)


def register(commands: Any) -> None:
    p = commands.add_parser(
        "probe",
        allow_abbrev=False,
        help="list and try the mechanisms a live server advertises",
        description="List the SASL mechanisms URL advertises before and after TLS; with "
        "--username, try each in a fresh connection and say why each failure failed. "
        f"URL: SCHEME://HOST[:PORT], the scheme one of {_schemes()} (TLS and default port; "
        "postgresql:// also takes /DATABASE and ?sslmode=require). "
        "With --no-tls a scheme that upgrades to TLS goes without the upgrade: the "
        "mechanisms that do not put the password on the wire are tried, PLAIN and LOGIN "
        "only with --allow-plaintext. "
        f"The password comes from --password, else --password-file, else ${PASSWORD_ENV}. "
        "Exit status: 0 every mechanism tried worked, 1 some did not, 2 bad input, "
        "3 the server could not be probed.",
    )
    p.set_defaults(command=run)
    p.add_argument("url", metavar="URL", nargs="?", help="e.g. imap://mail.example.org")
    accounts.add_account_options(p)
    p.add_argument("--username", help="try every mechanism as this user (else only list)")
    add_password_options(p)
    p.add_argument("--cafile", metavar="FILE", help="also trust the certificates in FILE")
    p.add_argument("--insecure-tls", action="store_true", help="do not verify the certificate")
    p.add_argument(
        "--no-tls", action="store_true", help="a scheme that upgrades to TLS, without the upgrade"
    )
    p.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="with --no-tls, try PLAIN and LOGIN too (the password crosses in the clear)",
    )
    add_channel_binding_option(p)
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="default 60")
    p.add_argument("-v", "--verbose", action="store_true", help="print each try's transcript")
    p.add_argument("--json", action="store_true", help="print JSON")


def _schemes() -> str:
    """Every scheme of ``SCHEMES`` with its TLS and default port, for the help."""
    return ", ".join(
        f"{scheme}:// ({tls_name(protocol, tls)}, {port})"
        for scheme, (protocol, tls, port) in SCHEMES.items()
    )


ACCOUNT_KEYS = {"server": "url", "username": "username", "cafile": "cafile",
                "channel_binding": "channel_binding"}  # fmt: skip
"""What an account (``--account``) gives ``probe``; options on the command line win."""


def run(args: argparse.Namespace) -> int:
    account = accounts.load(args)
    accounts.fill(args, account, ACCOUNT_KEYS)
    if account is not None and account.get("tls") == "none":
        args.no_tls = True
        args.allow_plaintext = args.allow_plaintext or account.get("allow_plaintext") is True
    if args.url is None:
        raise CommandFailed("give the URL (or an --account that names a server)")
    target = _target(args)
    wanted = account.get("tls") if account is not None else None
    if wanted in ("starttls", "implicit") and wanted != target.tls:
        raise CommandFailed(
            f"account {account.name!r}: tls = {wanted!r} does not fit {args.url}"  # type: ignore[union-attr]
            " (an implicit-TLS scheme such as smtps:// is implicit, a plain one STARTTLS)"
        )
    if args.username is None and (args.password is not None or args.password_file is not None):
        raise CommandFailed("a password needs --username")
    if not args.timeout > 0:
        raise CommandFailed("--timeout must be a positive number of seconds")
    secret = accounts.password(args, account) if args.username is not None else ""
    try:
        report = probe(
            target,
            username=args.username,
            password=secret,
            cafile=args.cafile,
            insecure_tls=args.insecure_tls,
            timeout=args.timeout,
            channel_binding=args.channel_binding,
            allow_plaintext=args.allow_plaintext,
        )
    except ProbeFailed as exc:
        reason = NO_STARTTLS.format(reason=exc) if isinstance(exc, TLSUnavailable) else str(exc)
        if args.json:
            print(json.dumps({"url": target.url, "probed": False, "error": reason}, indent=2))
        raise CommandFailed(reason, EXIT_UNREACHABLE) from None
    shown = as_json(report, args) if args.json else text(report, args)
    print(json.dumps(shown, indent=2) if args.json else shown)
    failed = any(a.outcome in (Outcome.REJECTED, Outcome.ERROR) for a in report.attempts)
    return EXIT_FAILED if failed else EXIT_OK


def _target(args: argparse.Namespace) -> Target:
    """The URL's target; with --no-tls, without its TLS upgrade. Bad input is exit 2."""
    target = Target.from_url(args.url)
    if args.allow_plaintext and not args.no_tls:
        raise CommandFailed(
            "--allow-plaintext goes with --no-tls (over TLS, PLAIN and LOGIN are always tried)"
        )
    if not args.no_tls:
        return target
    if target.tls == "implicit":
        implicit = ", ".join(f"{s}://" for s, row in SCHEMES.items() if row[1] == "implicit")
        raise CommandFailed(f"--no-tls cannot go with an implicit-TLS scheme ({implicit})")
    if args.channel_binding is not None:
        raise CommandFailed("--channel-binding binds to TLS: it cannot go with --no-tls")
    return target.without_tls()


TLS_NAMES = {"implicit": "implicit TLS", "none": "no TLS"}
"""How a TLS mode is written; ``starttls`` is the protocol's own name for it."""


def tls_name(protocol: str, tls: TLSMode) -> str:
    """``tls`` as ``protocol`` says it: its upgrade's name (the profile's ``tls_upgrade``:
    STARTTLS, STLS, StartTLS, SSLRequest), implicit TLS or no TLS."""
    return profile(protocol).tls_upgrade if tls == "starttls" else TLS_NAMES[tls]


def text(report: Report, args: argparse.Namespace) -> str:
    target = report.target
    lines = [f"{target.url} ({tls_name(target.protocol, target.tls)})"]
    if target.tls == "none":
        lines.append(f"advertised without TLS: {_names(report.offered)}")
    else:
        before = (
            _names(report.before_tls)
            if report.before_tls is not None
            else ("(implicit TLS)" if target.tls == "implicit" else "(no list before TLS)")
        )
        lines += [
            f"advertised before TLS: {before}",
            f"advertised after TLS:  {_names(report.offered)}",
        ]
    if report.attempts:
        rows = [_row(a) for a in report.attempts]
        header = ["mechanism", "tried", "outcome", "round trips", "time", "diagnosis"]
        lines += ["", table(header, rows)]
    if report.verdict:
        lines += ["", f"verdict: {report.verdict}"]
        if (command := next_command(report, args)) is not None:
            lines.append(f"next: {command}")
    if args.verbose:
        for attempt in report.attempts:
            if attempt.transcript:
                lines += ["", f"{attempt.mechanism}:", *attempt.shown_transcript()]
    return "\n".join(lines)


def _names(names: tuple[str, ...]) -> str:
    return " ".join(names) if names else "(none)"


def why_not_tried(attempt: Attempt) -> str:
    """Why a skipped mechanism was not tried, in this command's options."""
    if attempt.not_tried is None:
        return ""
    return "not tried: " + NOT_TRIED.get(attempt.not_tried, attempt.detail)


def next_command(report: Report, args: argparse.Namespace) -> str | None:
    """The run that could tell more than this one, as a command line (no password on it)."""
    if report.next_step is not NextStep.ALLOW_PLAINTEXT:
        return None
    return (
        f"sasl-kit probe {report.target.url} --no-tls --allow-plaintext --username "
        f"{shlex.quote(args.username)} (and the password as before: only PLAIN or LOGIN "
        "can tell a wrong password from a server that cannot verify the others)"
    )


def _row(attempt: Attempt) -> list[str]:
    tried = attempt.outcome is not Outcome.SKIPPED
    return [
        attempt.mechanism,
        "yes" if tried else "no",
        attempt.outcome.value,
        str(attempt.round_trips) if tried else "-",
        f"{attempt.seconds * 1000:.0f} ms" if attempt.seconds is not None else "-",
        (attempt.diagnosis or attempt.session_refused) if tried else why_not_tried(attempt),
    ]


def as_json(report: Report, args: argparse.Namespace) -> dict[str, object]:
    target = report.target
    return {
        "url": target.url,
        "protocol": target.protocol,
        "host": target.host,
        "port": target.port,
        "tls": target.tls,
        "before_tls": None if report.before_tls is None else list(report.before_tls),
        "after_tls": None if report.after_tls is None else list(report.after_tls),
        "attempts": [
            {
                "mechanism": a.mechanism,
                "tried": a.outcome is not Outcome.SKIPPED,
                "outcome": a.outcome.value,
                "not_tried": None if a.not_tried is None else a.not_tried.value,
                "round_trips": a.round_trips,
                "seconds": a.seconds,
                "detail": a.detail,
                "diagnosis": a.diagnosis or why_not_tried(a),
                "session_refused": a.session_refused or None,
                "other_hosts": [{"host": h, "outcome": o.value} for h, o in a.other_hosts],
                "transcript": list(a.shown_transcript()),
            }
            for a in report.attempts
        ],
        "verdict": report.verdict,
        "next": next_command(report, args),
    }
