"""``sasl-kit mechanisms`` and ``sasl-kit selftest``: what is registered, and does it work."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from typing import Any

from sasl_kit import selftest
from sasl_kit.cli.common import EXIT_FAILED, EXIT_OK, cell, table
from sasl_kit.registry import default_registry
from sasl_kit.selftest import Result


def register(commands: Any) -> None:
    p = commands.add_parser("mechanisms", allow_abbrev=False, help="list registered mechanisms")
    p.set_defaults(command=mechanisms)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = commands.add_parser(
        "selftest", allow_abbrev=False, help="replay every vector, run every handshake"
    )
    p.set_defaults(command=run_selftest)
    p.add_argument("--json", action="store_true", help="print JSON")


def mechanisms(args: argparse.Namespace) -> int:
    """The registry's rows, strongest first."""
    rows = [
        {
            "name": info.name,
            "client": info.has_client,
            "server": info.has_server,
            "strength": info.strength,
            "needs_tls": info.plaintext or info.channel_binding,
        }
        for info in default_registry
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        cells = [[cell(value) for value in row.values()] for row in rows]
        print(table(["name", "client", "server", "strength", "needs TLS"], cells))
    return EXIT_OK


def run_selftest(args: argparse.Namespace) -> int:
    """Every vector and a handshake per mechanism; non-zero when anything failed."""
    rows = selftest.run()
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
    else:
        print(table(["what", "result", "detail"], [[r.what, r.result, r.detail] for r in rows]))
        n = Counter(row.result for row in rows)
        print(f"{n[Result.OK]} passed, {n[Result.FAIL]} failed, {n[Result.SKIP]} skipped")
    failed = any(row.result is Result.FAIL for row in rows)
    return EXIT_FAILED if failed else EXIT_OK
