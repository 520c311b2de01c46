"""``sasl-kit http-digest``: an HTTP Digest ``Authorization`` value, computed or checked offline.

Exit status (docs/cli.md): 0 computed, or the value checked proves the password;
1 it does not (wrong password, other user); 2 bad input, a malformed header among it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sasl_kit import http_digest
from sasl_kit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    PASSWORD_ENV,
    USERNAME_ENV,
    CommandFailed,
    add_password_options,
    password,
)
from sasl_kit.errors import AuthenticationFailed


def register(commands: Any) -> None:
    p = commands.add_parser(
        "http-digest",
        allow_abbrev=False,
        help="compute or check an HTTP Digest Authorization value (RFC 2617, RFC 7616)",
        description="Print the Authorization value answering WWW-AUTHENTICATE (its first Digest "
        "challenge, or the one with --algorithm), or with --check, check an Authorization "
        "value (WWW-AUTHENTICATE then tells whether it had charset=UTF-8, the default). "
        f"The password comes from --password, else --password-file, else ${PASSWORD_ENV}.",
    )
    p.set_defaults(command=http_digest_command)
    p.add_argument(
        "www_authenticate",
        metavar="WWW-AUTHENTICATE",
        nargs="?",
        help="the server's WWW-Authenticate value (one or more challenges)",
    )
    p.add_argument("--check", metavar="AUTHORIZATION", help="check this Authorization value")
    p.add_argument("--username", help=f"the user name (else ${USERNAME_ENV})")
    add_password_options(p)
    p.add_argument("--method", default="GET", help="the request method (default: GET)")
    p.add_argument("--uri", help="the request-target, e.g. /dir/index.html")
    p.add_argument("--body-file", metavar="FILE", help="the request body, for qop auth-int")
    p.add_argument("--algorithm", help="answer the challenge with this algorithm, e.g. MD5")
    p.add_argument("--qop", choices=http_digest.QOPS, help="default: auth when offered")
    p.add_argument("--cnonce", help="a fixed client nonce, for checks against known values")
    p.add_argument("--nc", type=int, default=1, help="the nonce count, from 1 (default: 1)")


def http_digest_command(args: argparse.Namespace) -> int:
    if args.www_authenticate is None and args.check is None:
        raise CommandFailed("give WWW-AUTHENTICATE, or --check AUTHORIZATION")
    body = _body(args.body_file)
    if args.check is not None:
        return _check(args, body)
    if args.uri is None:
        raise CommandFailed("--uri is required to compute an Authorization value")
    challenges = http_digest.parse_challenges(args.www_authenticate)
    sent = http_digest.respond(
        http_digest.choose(challenges, args.algorithm),
        _username(args) or "",
        password(args),
        args.method,
        args.uri,
        body,
        cnonce=args.cnonce,
        nc=args.nc,
        qop=args.qop,
    )
    print(http_digest.format_authorization(sent))
    return EXIT_OK


def _check(args: argparse.Namespace, body: bytes) -> int:
    """Verify the value against the password; without --username, for the user it names."""
    authorization = http_digest.parse_authorization(args.check)
    utf8 = True  # RFC 7616 4: the only charset; for ASCII names and passwords it changes nothing
    if args.www_authenticate is not None:
        challenges = http_digest.parse_challenges(args.www_authenticate)
        utf8 = http_digest.choose(challenges, authorization.algorithm).utf8
    username = _username(args)
    if authorization.userhash and username is None:
        raise CommandFailed("the Authorization has userhash=true: --username is needed")
    secret = password(args)

    def lookup(user: str, realm: str) -> str | None:
        return secret if username is None or user == username else None

    try:
        user = http_digest.verify(
            authorization,
            args.method,
            body,
            lookup,
            uri=args.uri,
            utf8=utf8,
            userhash_lookup=http_digest.UserhashTable(
                [username or ""], authorization.realm, utf8=utf8
            ),
        )
    except AuthenticationFailed as exc:
        raise CommandFailed(str(exc), EXIT_FAILED) from None
    print(f"ok: the response proves the password of {user!r}")
    return EXIT_OK


def _username(args: argparse.Namespace) -> str | None:
    return args.username if args.username is not None else os.environ.get(USERNAME_ENV)


def _body(path: str | None) -> bytes:
    if path is None:
        return b""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CommandFailed(f"cannot read body file {path!r}: {exc.strerror}") from None
