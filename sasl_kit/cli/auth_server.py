"""``sasl-kit auth-server``: Dovecot's auth protocol for Postfix (docs/auth-server.md).

Rules of this module:
- Everything is checked before the service listens: a bad option, users file or
  address is one line on stderr and exit 2, with nothing started.
- Once listening, stdout carries one line, ``listening on ADDRESS; offering
  MECHANISMS``, the line a supervisor or a test waits for; the log (failed
  logins, never a secret) goes to stderr.
- It runs until SIGINT or SIGTERM (``common.wait_for_signal``), then stops the
  service and exits 0.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from sasl_kit.cli.common import EXIT_OK, CommandFailed, wait_for_signal


def register(commands: Any) -> None:
    p = commands.add_parser(
        "auth-server",
        help="authenticate an MTA's clients (Postfix smtpd_sasl_type = dovecot)",
        description="An authentication service speaking Dovecot's auth protocol, so that "
        "Postfix (smtpd_sasl_type = dovecot) authenticates SMTP clients with sasl-kit's "
        "server mechanisms. Runs until interrupted. See docs/auth-server.md.",
    )
    p.add_argument(
        "--listen",
        required=True,
        metavar="unix:PATH|HOST:PORT",
        help="where Postfix's smtpd_sasl_path points",
    )
    p.add_argument(
        "--users",
        required=True,
        metavar="FILE",
        help="users file: user:password or user:SCRAM-... lines (as for serve)",
    )
    p.add_argument(
        "--hostname",
        default="localhost",
        help="server name for DIGEST-MD5's digest-uri and realm (default localhost)",
    )
    p.add_argument(
        "--mechanism",
        action="append",
        metavar="NAME",
        dest="mechanisms",
        help="offer only this mechanism (repeatable; default: every one that fits)",
    )
    p.add_argument(
        "--auth-failure-delay",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="wait before answering a failed login (default 2, as Dovecot)",
    )
    p.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="accept PLAIN and LOGIN on connections the MTA does not mark secured",
    )
    p.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from sasl_kit.auth_service import AuthService, Listen, ServiceConfig
    from sasl_kit.errors import UsageError
    from sasl_kit.smtp_server.users import Users

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.auth_failure_delay < 0:
        raise CommandFailed("--auth-failure-delay must be 0 or more seconds")
    try:
        config = ServiceConfig(
            users=Users.load(Path(args.users)),
            listen=Listen.parse(args.listen),
            hostname=args.hostname,
            failure_delay=args.auth_failure_delay,
            mechanisms=args.mechanisms,
            allow_plaintext=args.allow_plaintext,
        )
        service = AuthService(config).start()
    except (UsageError, OSError) as exc:
        raise CommandFailed(str(exc)) from None
    offered = " ".join(info.name for info in config.offered())
    try:
        wait_for_signal(f"listening on {service.address}; offering {offered}")
    finally:
        service.stop()
    return EXIT_OK
