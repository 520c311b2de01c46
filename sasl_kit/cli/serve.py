"""``sasl-kit serve``: a local SMTP submission server with every mechanism (docs/serve.md)."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

from sasl_kit.cli.common import EXIT_OK, CommandFailed, wait_for_signal
from sasl_kit.errors import UsageError
from sasl_kit.smtp_server import Faults, MailServer, ServerConfig, Users


def register(commands: Any) -> None:
    p = commands.add_parser(
        "serve",
        help="run a local SMTP server that authenticates with every mechanism",
        description="A local SMTP submission server (aiosmtpd) offering every server-side "
        "mechanism of the registry; received mail goes to a maildir. Runs until "
        "interrupted. See docs/serve.md.",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1:2525",
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:2525; port 0: any free one)",
    )
    p.add_argument(
        "--users",
        required=True,
        metavar="FILE",
        help="users file: user:password or user:SCRAM-... lines",
    )
    p.add_argument("--maildir", metavar="DIR", help="where mail goes (default: a temporary one)")
    p.add_argument("--hostname", help="server name for DIGEST-MD5 and others (default: HOST)")
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (default: self-signed)")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    p.add_argument(
        "--implicit-tls",
        action="store_true",
        help="TLS from the first byte (as on port 465) instead of STARTTLS",
    )
    p.add_argument(
        "--allow-plaintext-auth", action="store_true", help="offer PLAIN and LOGIN before TLS too"
    )
    p.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="accept bare CR or LF in message data",
    )
    p.add_argument(
        "--tokens", metavar="FILE", help="user:token lines: enables OAUTHBEARER and XOAUTH2"
    )
    p.add_argument("--allow-anonymous", action="store_true", help="enable ANONYMOUS")
    p.add_argument(
        "--allow-ntlmv1",
        action="store_true",
        help="accept NTLMv1 answers (weak; swaks and GNU SASL send them)",
    )
    limits = p.add_argument_group("limits (as Postfix and Dovecot have them)")
    limits.add_argument(
        "--idle-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="421 and close after SECONDS without a line (default 300)",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=300,
        metavar="N",
        help="more open connections get 421 at once (default 300)",
    )
    limits.add_argument(
        "--auth-failure-delay",
        type=float,
        metavar="SECONDS",
        help="answer each failed AUTH after SECONDS (default 2, 0 on loopback)",
    )
    faults = p.add_argument_group("fault injection")
    faults.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share (0-1) of --fault-commands answered with a --fault-codes code",
    )
    faults.add_argument(
        "--fault-codes",
        default="421,451,452,554",
        metavar="CODES",
        help="comma-separated, among 421,451,452,554 (default: all)",
    )
    faults.add_argument(
        "--fault-commands",
        default="MAIL,RCPT,DATA",
        metavar="STEPS",
        help="comma-separated steps open to faults (default MAIL,RCPT,DATA)",
    )
    faults.add_argument(
        "--drop-at",
        metavar="STEP",
        help="hang up at STEP: greeting, a verb (EHLO, AUTH ...) or end-of-data",
    )
    faults.add_argument(
        "--delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait before each reply (at --delay-at only, if given)",
    )
    faults.add_argument("--delay-at", metavar="STEP", help="the step whose replies are delayed")
    faults.add_argument("--seed", type=int, help="seed for the fault choices (repeatable runs)")
    p.set_defaults(command=run)


def config(args: argparse.Namespace, maildir: Path) -> ServerConfig:
    host, colon, port = args.listen.rpartition(":")
    if not colon or not port.isdigit():
        raise CommandFailed(f"--listen {args.listen!r} is not HOST:PORT")
    try:
        codes = tuple(int(c) for c in args.fault_codes.split(","))
    except ValueError:
        raise CommandFailed(f"--fault-codes {args.fault_codes!r} is not a list of codes") from None
    return ServerConfig(
        users=Users.load(Path(args.users)),
        maildir=maildir,
        host=host.strip("[]"),
        port=int(port),
        hostname=args.hostname,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        implicit_tls=args.implicit_tls,
        allow_plaintext_auth=args.allow_plaintext_auth,
        strict=args.strict,
        faults=Faults(
            rate=args.fault_rate,
            codes=codes,
            commands=tuple(c.strip() for c in args.fault_commands.split(",") if c.strip()),
            drop_at=args.drop_at,
            delay=args.delay,
            delay_at=args.delay_at,
            seed=args.seed,
        ),
        tokens=Users.load(Path(args.tokens)).passwords if args.tokens else {},
        allow_anonymous=args.allow_anonymous,
        allow_ntlmv1=args.allow_ntlmv1,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
        auth_failure_delay=args.auth_failure_delay,
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-line chatter
    with tempfile.TemporaryDirectory(prefix="sasl-kit-maildir-") as scratch:
        maildir = Path(args.maildir) if args.maildir else Path(scratch)
        try:
            server = MailServer(config(args, maildir)).start()
        except UsageError as exc:
            raise CommandFailed(str(exc)) from None
        tls = "implicit TLS" if args.implicit_tls else "STARTTLS"
        try:
            wait_for_signal(
                f"listening on {server.host}:{server.port} ({tls})",
                f"certificate: {server.cafile}",
                f"maildir: {maildir}",
            )
        finally:
            server.stop()
    return EXIT_OK
