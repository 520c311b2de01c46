"""``sasl-kit verify``: which side of the AUTH exchanges in a transcript erred, and why.

Exit status (docs/cli.md): 0 every client response is correct (even one the
server rejected), 1 some response is wrong, malformed or could not be checked,
2 unreadable input or no AUTH exchange in it. The password is read, never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sasl_kit import verify
from sasl_kit.cli.common import EXIT_FAILED, EXIT_OK, PASSWORD_ENV, CommandFailed, secret


def register(commands: Any) -> None:
    p = commands.add_parser(
        "verify",
        allow_abbrev=False,
        help="tell which side of the AUTH exchanges in a transcript erred, and why",
        description="Read a transcript (C:/S: notation, a raw telnet session or swaks output; "
        "'-' for standard input), find every AUTH exchange and judge each client response. "
        f"The password comes from --password-file, else ${PASSWORD_ENV}; without one only "
        "the syntax is checked.",
    )
    p.set_defaults(command=verify_command)
    p.add_argument("transcript", metavar="TRANSCRIPT", help="the transcript file, or '-'")
    p.add_argument("--username", help="who should have logged in (default: the user sent)")
    p.add_argument("--password-file", metavar="FILE", help="the password is FILE's first line")
    p.add_argument("--service", help="DIGEST-MD5: the service digest-uri must name (smtp, imap)")
    p.add_argument("--host", help="DIGEST-MD5: the host digest-uri must name")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def verify_command(args: argparse.Namespace) -> int:
    text = _read(args.transcript)
    exchanges = verify.read(text)
    if not exchanges:
        raise CommandFailed(f"no AUTH exchange found in {args.transcript!r}")
    password = secret(None, args.password_file, PASSWORD_ENV, "password") or None
    results = [
        (
            exchange,
            verify.diagnose(
                exchange,
                username=args.username,
                password=password,
                service=args.service,
                host=args.host,
            ),
        )
        for exchange in exchanges
    ]
    if args.json:
        print(json.dumps({"exchanges": [_as_json(e, d) for e, d in results]}, indent=2))
    else:
        print("\n\n".join(_as_text(n, e, d) for n, (e, d) in enumerate(results, 1)))
    every_correct = all(d.verdict == verify.CORRECT for _, d in results)
    return EXIT_OK if every_correct else EXIT_FAILED


def _read(path: str) -> str:
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise CommandFailed(f"cannot read transcript {path!r}: {exc.strerror}") from None
    return data.decode("utf-8", "replace")


def _outcome(exchange: verify.Exchange) -> str:
    outcome = exchange.outcome
    if outcome.cancelled:
        return "cancelled by the client"
    if outcome.success is None:
        return "no final server reply"
    return ("accepted: " if outcome.success else "rejected: ") + outcome.reply


def _as_text(number: int, exchange: verify.Exchange, diagnosis: verify.Diagnosis) -> str:
    lines = [
        f"exchange {number} (line {exchange.line}): {exchange.protocol.upper()} "
        f"{exchange.mechanism}, {_outcome(exchange)}",
        f"  verdict: {diagnosis.verdict}",
        f"  erred: {diagnosis.side or 'no one'}",
    ]
    if diagnosis.mistake:
        lines.append(f"  mistake: {diagnosis.mistake}")
    lines.append(f"  {diagnosis.explanation}")
    if diagnosis.server_causes:
        lines.append("  usual causes when a server rejects a correct response:")
        lines += [f"  - {cause}" for cause in diagnosis.server_causes]
    return "\n".join(lines)


def _as_json(exchange: verify.Exchange, diagnosis: verify.Diagnosis) -> dict[str, Any]:
    return {
        "line": exchange.line,
        "protocol": exchange.protocol,
        "mechanism": exchange.mechanism,
        "outcome": {
            "success": exchange.outcome.success,
            "reply": exchange.outcome.reply,
            "cancelled": exchange.outcome.cancelled,
        },
        "verdict": diagnosis.verdict,
        "side": diagnosis.side,
        "mistake": diagnosis.mistake,
        "explanation": diagnosis.explanation,
        "server_causes": list(diagnosis.server_causes),
    }
