"""The ``sasl-kit`` command (docs/cli.md): one module per command, this one dispatches.

Rules of this package:
- It parses arguments, calls the library and prints. Exchange logic lives in the
  mechanisms and in library modules; mechanism names come only from the registry.
- Each command module has ``register(commands)``, adding its sub-parser with
  ``set_defaults(command=function)``. ``COMMANDS`` maps each command to the
  module that registers it, in help order: only the module of the command
  being run is imported (a command's imports, such as aiosmtpd or
  ``cryptography``, cost the others nothing); help and an unknown command
  import them all. A new command is one row there.
- stdout carries results only; an error is one line on stderr, without a
  traceback and without a secret (see ``common``). A value typed after an
  unknown option is never echoed: it may be a password.
- Exit status: 0 done, 1 a proof or a check failed, 2 the input was wrong,
  141 (as a shell reports SIGPIPE) the reader of stdout went away
  (``common.EXIT_STATUSES``); a command module that uses more lists them in
  its ``EXIT_STATUSES``, which the top-level help shows (docs/cli.md).
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

from sasl_kit.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CLOSED_PIPE,
    EXIT_STATUSES,
    PROG,
    CommandFailed,
    Parser,
    fail,
    raw_text,
)
from sasl_kit.errors import SASLError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (7 ms of start-up)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

__all__ = ["main", "raw_text"]

COMMANDS = {
    "demo": "demo",
    "respond": "respond",
    "mechanisms": "info",
    "selftest": "info",
    "send": "send",
    "sendmail": "sendmail",
    "http-digest": "http_digest",
    "serve": "serve",
    "auth-server": "auth_server",
    "verify": "verify",
    "probe": "probe",
}
"""Command -> its module in ``sasl_kit.cli``, in help order."""


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
        args, extra = _parser(sys.argv[1:] if argv is None else argv).parse_known_args(argv)
        if extra and "challenges" in args and not any(a.startswith("-") for a in extra):
            args.challenges += extra  # argparse < 3.13 leaves CHALLENGEs after an option over
        elif extra:
            raise CommandFailed(_unexpected(extra))
        command: Callable[[argparse.Namespace], int] = args.command
        return command(args)
    except CommandFailed as exc:
        return fail(str(exc), exc.status)
    except SASLError as exc:  # an unknown mechanism, an option the mechanism refuses
        return fail(str(exc), EXIT_BAD_INPUT)


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``: the command's own module only, or all for help and errors."""
    parser = Parser(
        prog=PROG,
        allow_abbrev=False,  # an abbreviation error would echo "--pass=SECRET"
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    wanted = [COMMANDS[word]] if word in COMMANDS else COMMANDS.values()
    for module in dict.fromkeys(wanted):
        import_module(f"{__name__}.{module}").register(commands)
    parser.description = "SASL from the command line. " + exit_statuses()
    return parser


def exit_statuses() -> str:
    """The help's exit statuses: those every command shares, then each command's own
    (the ``EXIT_STATUSES`` of its module, imported for help)."""
    shared = ", ".join(f"{status} {meaning}" for status, meaning in EXIT_STATUSES.items())
    own = [
        f"{command}: " + ", ".join(f"{status} {meaning}" for status, meaning in statuses.items())
        for command, module in COMMANDS.items()
        if (statuses := getattr(sys.modules.get(f"{__name__}.{module}"), "EXIT_STATUSES", None))
    ]
    more = f"; besides, {'; '.join(own)}" if own else ""
    return f"Exit status: {shared}{more} (docs/cli.md has each command's list)."


def _unexpected(extra: list[str]) -> str:
    """Name unknown options only: the word after one may be a password."""
    options = [arg.split("=", 1)[0] for arg in extra if arg.startswith("-")]
    if options:
        return f"unrecognized option {', '.join(options)}"
    return f"{len(extra)} argument(s) this command does not take"
