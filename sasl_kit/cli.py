"""The ``sasl-kit`` command: ``respond``, ``mechanisms`` and ``selftest`` (docs/cli.md).

Rules of this module:
- It parses arguments, calls the library and prints. The exchange logic lives in
  the mechanisms and in ``sasl_kit.selftest``; mechanism names come only from
  the registry.
- stdout carries results only. An error is one line on stderr, without a
  traceback and without a secret: a value typed after an unknown option is
  never echoed, and library messages never hold one (sasl_kit.errors).
- Exit status: 0 done, 1 a proof or a check failed, 2 the input was wrong,
  141 (as a shell reports SIGPIPE) the reader of stdout went away.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import NoReturn

from sasl_kit import selftest
from sasl_kit.errors import MutualAuthenticationFailed, SASLError
from sasl_kit.registry import default_registry
from sasl_kit.selftest import Result

PROG = "sasl-kit"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CLOSED_PIPE = 0, 1, 2, 141
PASSWORD_ENV, USERNAME_ENV = "SASL_KIT_PASSWORD", "SASL_KIT_USERNAME"
CLIENT_OPTIONS = ("authzid", "realm", "service", "host", "serv_name", "cnonce")
RAW_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class CommandFailed(Exception):
    """Ends the command with a one-line message on stderr and ``status``."""

    def __init__(self, message: str, status: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CommandFailed(message)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        status = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at exit
        return status
    except BrokenPipeError:  # the reader (head, less) has gone: stop quietly, as on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


def _run(argv: Sequence[str] | None) -> int:
    try:
        args, extra = _parser().parse_known_args(argv)
        if extra and "challenges" in args and not any(a.startswith("-") for a in extra):
            args.challenges += extra  # argparse < 3.13 leaves CHALLENGEs after an option over
        elif extra:
            raise CommandFailed(_unexpected(extra))
        command: Callable[[argparse.Namespace], int] = args.command
        return command(args)
    except CommandFailed as exc:
        return _fail(str(exc), exc.status)
    except SASLError as exc:  # an unknown mechanism, an option the mechanism refuses
        return _fail(str(exc), EXIT_BAD_INPUT)


def respond(args: argparse.Namespace) -> int:
    """Print the client's answer to each challenge; an initial response comes first."""
    challenges = [_decode(text, n) for n, text in enumerate(args.challenges, 1)]
    options = {k: getattr(args, k) for k in CLIENT_OPTIONS if getattr(args, k) is not None}
    username = args.username if args.username is not None else os.environ.get(USERNAME_ENV, "")
    mech = default_registry.client(
        args.mechanism, username=username, password=_password(args), **options
    )
    steps = [(f"challenge {n}", data) for n, data in enumerate(challenges, 1)]
    if mech.client_first and challenges[:1] != [b""]:  # else the empty challenge asks for it
        steps.insert(0, ("initial response", b""))
    show = raw_text if args.raw else _base64
    for label, data in steps:
        if mech.complete:
            raise CommandFailed(f"{label}: the {mech.name} exchange is already complete")
        try:
            print(show(mech.step(data) or b""))
        except SASLError as exc:
            status = EXIT_FAILED if isinstance(exc, MutualAuthenticationFailed) else EXIT_BAD_INPUT
            raise CommandFailed(f"{label}: {exc}", status) from None
    return EXIT_OK


def mechanisms(args: argparse.Namespace) -> int:
    """The registry's rows, strongest first."""
    rows = [
        {
            "name": info.name,
            "client": info.client is not None,
            "server": info.server is not None,
            "strength": info.strength,
            "needs_tls": info.plaintext or info.channel_binding,
        }
        for info in default_registry
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        cells = [[_cell(value) for value in row.values()] for row in rows]
        print(_table(["name", "client", "server", "strength", "needs TLS"], cells))
    return EXIT_OK


def run_selftest(args: argparse.Namespace) -> int:
    """Every vector and a handshake per mechanism; non-zero when anything failed."""
    rows = selftest.run()
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
    else:
        print(_table(["what", "result", "detail"], [[r.what, r.result, r.detail] for r in rows]))
        n = Counter(row.result for row in rows)
        print(f"{n[Result.OK]} passed, {n[Result.FAIL]} failed, {n[Result.SKIP]} skipped")
    failed = any(row.result is Result.FAIL for row in rows)
    return EXIT_FAILED if failed else EXIT_OK


def raw_text(data: bytes) -> str:
    """``data`` as UTF-8 text on one line, escaped so that no two inputs look alike.

    A backslash shows as ``\\\\``; newline, CR and tab as ``\\n``, ``\\r``,
    ``\\t``; other unprintable characters as ``\\xNN`` (below U+0080) or
    ``\\uNNNN``; a byte that is not UTF-8 as ``\\xNN`` (always 80 to ff).
    """
    out = []
    for char in data.decode("utf-8", "surrogateescape"):
        code = ord(char)
        if char in RAW_ESCAPES:
            out.append(RAW_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for a non-UTF-8 byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        allow_abbrev=False,  # an abbreviation error would echo "--pass=SECRET"
        description="SASL from the command line. Exit status: 0 done, "
        "1 the server's proof or a self-test check failed, 2 the input was wrong.",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "respond",
        allow_abbrev=False,
        help="print a client's answers to server challenges",
        description="Print the client's messages (base64, one a line) for the server's "
        "CHALLENGEs (base64, as on the wire, in order). The password comes from "
        f"--password, else --password-file, else ${PASSWORD_ENV}.",
    )
    p.set_defaults(command=respond)
    p.add_argument("mechanism", metavar="MECH", help="a mechanism name (see `mechanisms`)")
    p.add_argument("challenges", metavar="CHALLENGE", nargs="*", help="a server message, base64")
    p.add_argument("--username", help=f"the authentication identity (else ${USERNAME_ENV})")
    p.add_argument("--password", help="the password (visible to other users of this machine)")
    p.add_argument("--password-file", metavar="FILE", help="the password is FILE's first line")
    p.add_argument("--authzid", help="the identity to act as")
    p.add_argument("--realm", help="the realm, for mechanisms that use one")
    p.add_argument("--service", help="the service name, e.g. imap (default: smtp)")
    p.add_argument("--host", help="the server's host name (default: localhost)")
    p.add_argument("--serv-name", help="the service's name when it differs from --host")
    p.add_argument("--cnonce", help="a fixed client nonce, for checks against known values")
    p.add_argument("--raw", action="store_true", help="print messages as escaped text")

    p = commands.add_parser("mechanisms", allow_abbrev=False, help="list registered mechanisms")
    p.set_defaults(command=mechanisms)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = commands.add_parser(
        "selftest", allow_abbrev=False, help="replay every vector, run every handshake"
    )
    p.set_defaults(command=run_selftest)
    p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _unexpected(extra: list[str]) -> str:
    """Name unknown options only: the word after one may be a password."""
    options = [arg.split("=", 1)[0] for arg in extra if arg.startswith("-")]
    if options:
        return f"unrecognized option {', '.join(options)}"
    return f"{len(extra)} argument(s) this command does not take"


def _password(args: argparse.Namespace) -> str:
    """--password, else --password-file's first line, else $SASL_KIT_PASSWORD, else ""."""
    if args.password is not None:
        return str(args.password)
    if args.password_file is None:
        return os.environ.get(PASSWORD_ENV, "")
    try:
        with open(args.password_file, encoding="utf-8") as f:
            return f.readline().removesuffix("\n")
    except OSError as exc:
        raise CommandFailed(
            f"cannot read password file {args.password_file!r}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise CommandFailed(f"password file {args.password_file!r} is not UTF-8") from None


def _decode(text: str, n: int) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CommandFailed(f"challenge {n} is not valid base64") from None


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(ln, widths, strict=True)).rstrip() for ln in lines
    )


def _fail(message: str, status: int) -> int:
    sys.stdout.flush()  # what was printed before the error stays before it
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status
