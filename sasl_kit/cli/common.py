"""What the ``sasl-kit`` commands share: exit statuses, errors, passwords, tables.

Rules of this module:
- stdout carries results only. An error is one line on stderr, without a
  traceback and without a secret: library messages never hold one
  (sasl_kit.errors), and a password is read here, never echoed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (7 ms of start-up)
if TYPE_CHECKING:
    from typing import NoReturn

PROG = "sasl-kit"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CLOSED_PIPE = 0, 1, 2, 141
EXIT_STATUSES = {
    EXIT_OK: "done",
    EXIT_FAILED: "what was checked or tried failed (a proof, a self-test, a login, a recipient)",
    EXIT_BAD_INPUT: "the input was wrong",
    EXIT_CLOSED_PIPE: "standard output was closed early (as a shell reports SIGPIPE)",
}
"""The statuses every command shares (a command may not use them all)."""
PASSWORD_ENV, USERNAME_ENV, TOKEN_ENV = "SASL_KIT_PASSWORD", "SASL_KIT_USERNAME", "SASL_KIT_TOKEN"
RAW_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class CommandFailed(Exception):
    """Ends the command with a one-line message on stderr and ``status``."""

    def __init__(self, message: str, status: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CommandFailed(message)


def add_password_options(parser: argparse.ArgumentParser) -> None:
    """--password, --password-file (read by ``password``)."""
    parser.add_argument("--password", help="the password (visible to other users of this machine)")
    parser.add_argument("--password-file", metavar="FILE", help="the password is FILE's first line")


BINDING_TYPES = ("tls-server-end-point", "tls-unique")
"""The channel bindings a client can take from ``ssl`` (``sasl_kit.channel_binding``)."""


def add_channel_binding_option(parser: argparse.ArgumentParser) -> None:
    """--channel-binding TYPE: lets SCRAM-*-PLUS bind to the TLS connection."""
    parser.add_argument(
        "--channel-binding",
        choices=BINDING_TYPES,
        metavar="TYPE",
        help="let SCRAM-*-PLUS bind to the TLS channel: tls-server-end-point (any TLS "
        "version) or tls-unique (TLS 1.2 and older); the server must support the type",
    )


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


def password(args: argparse.Namespace) -> str:
    """--password, else --password-file's first line, else $SASL_KIT_PASSWORD, else ""."""
    return secret(args.password, args.password_file, PASSWORD_ENV, "password")


def secret(value: str | None, path: str | None, env: str, what: str) -> str:
    """``value``, else the first line of the file ``path``, else ``$env``, else ""."""
    if value is not None:
        return str(value)
    if path is None:
        return os.environ.get(env, "")
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().removesuffix("\n")
    except OSError as exc:
        raise CommandFailed(f"cannot read {what} file {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandFailed(f"{what} file {path!r} is not UTF-8") from None


def decode_base64(text: str, what: str) -> bytes:
    """Decode a base64 argument, or fail naming ``what`` it was."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CommandFailed(f"{what} is not valid base64") from None


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(ln, widths, strict=True)).rstrip() for ln in lines
    )


def wait_for_signal(*ready: str) -> None:
    """Print the ``ready`` lines (flushed), then block until SIGINT or SIGTERM.

    For the commands that run until interrupted (``serve``, ``auth-server``): the
    handlers are in place before the first line, so a caller that signals as soon
    as it reads one is heard, and the command goes on to stop what it started.
    """
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    for line in ready:
        print(line, flush=True)
    while not stop.wait(0.5):  # a timed wait lets the signal handlers run
        pass


def fail(message: str, status: int) -> int:
    sys.stdout.flush()  # what was printed before the error stays before it
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status
