"""``sasl-kit demo``: a local server, every mechanism it offers, the mail read back (docs/cli.md).

Exit status: 0 every mechanism sent its mail and every stored message passed
the checks, 1 otherwise, 2 the server could not start.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sasl_kit import demo
from sasl_kit.cli.common import EXIT_FAILED, EXIT_OK, CommandFailed, table
from sasl_kit.errors import UsageError


def register(commands: Any) -> None:
    p = commands.add_parser(
        "demo",
        help="send a mail through every mechanism of a local server, then read it back",
        description="Start the embedded SMTP server on 127.0.0.1 (a free port, a fresh "
        "certificate, a generated user), send one mail with an attachment, Cc and Bcc "
        "through every mechanism it offers with sasl-kit's own client, and read the "
        "maildir back. Exit status: 0 all worked, 1 something failed.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = demo.run()
    except UsageError as exc:  # the server could not start
        raise CommandFailed(str(exc)) from None
    print(json.dumps(as_json(report), indent=2) if args.json else text(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def text(report: demo.Report) -> str:
    lines = [
        f"server {report.host}:{report.port} (STARTTLS, fresh self-signed certificate), "
        f"user {report.user}",
        "",
        table(
            ["mechanism", "result", "round trips", "ms"],
            [
                [
                    a.mechanism,
                    "ok" if a.ok else f"FAILED: {a.detail}",
                    str(a.round_trips),
                    f"{a.seconds * 1000:.1f}",
                ]
                for a in report.attempts
            ],
        ),
        "",
        f"stored: {len(report.readbacks)} messages for {report.sent} sent",
    ]
    if report.readbacks:
        first = report.readbacks[0]
        lines += [
            f"message {first.key} (AUTH {first.mechanism}):",
            f"  Bcc header: {'PRESENT' if first.bcc_header else 'absent'}; "
            f"{demo.BCC} {'in the data' if first.bcc_in_data else 'not in the data'}, "
            f"{'in' if first.bcc_in_envelope else 'MISSING from'} the envelope",
            f"  attachment {first.filename!r}:",
            f"    sent   sha256 {first.sent_sha256}",
            f"    stored sha256 {first.stored_sha256}",
            f"  hashes {'equal' if first.stored_sha256 == first.sent_sha256 else 'DIFFER'}",
        ]
        passed = sum(r.ok for r in report.readbacks)
        lines.append(f"checks passed on {passed} of {len(report.readbacks)} stored messages")
    lines.append("demo: ok" if report.ok else "demo: FAILED")
    return "\n".join(lines)


def as_json(report: demo.Report) -> dict[str, object]:
    return {
        "host": report.host,
        "port": report.port,
        "user": report.user,
        "ok": report.ok,
        "attempts": [
            {
                "mechanism": a.mechanism,
                "ok": a.ok,
                "detail": a.detail,
                "round_trips": a.round_trips,
                "milliseconds": round(a.seconds * 1000, 3),
            }
            for a in report.attempts
        ],
        "stored": [
            {
                "key": r.key,
                "mechanism": r.mechanism,
                "ok": r.ok,
                "bcc_header": r.bcc_header,
                "bcc_in_data": r.bcc_in_data,
                "bcc_in_envelope": r.bcc_in_envelope,
                "filename": r.filename,
                "sent_sha256": r.sent_sha256,
                "stored_sha256": r.stored_sha256,
            }
            for r in report.readbacks
        ],
    }
