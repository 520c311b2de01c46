"""``sasl-kit respond``: a client's answers to server challenges, offline (docs/cli.md)."""

from __future__ import annotations

import argparse
import os

from sasl_kit.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    PASSWORD_ENV,
    TOKEN_ENV,
    USERNAME_ENV,
    CommandFailed,
    add_password_options,
    decode_base64,
    encode_base64,
    password,
    raw_text,
    secret,
)
from sasl_kit.errors import MutualAuthenticationFailed, SASLError
from sasl_kit.registry import default_registry

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (7 ms of start-up)
if TYPE_CHECKING:
    from typing import Any

CLIENT_OPTIONS = (
    "authzid",
    "realm",
    "service",
    "host",
    "serv_name",
    "cnonce",
    "timestamp",
    "ciphers",
    "port",
    "trace",
)


def register(commands: Any) -> None:
    p = commands.add_parser(
        "respond",
        allow_abbrev=False,
        help="print a client's answers to server challenges",
        description="Print the client's messages (base64, one a line) for the server's "
        "CHALLENGEs (base64, as on the wire, in order). The password comes from "
        f"--password, else --password-file, else ${PASSWORD_ENV}; the OAuth bearer token "
        f"from --token, else --token-file, else ${TOKEN_ENV}.",
    )
    p.set_defaults(command=respond)
    p.add_argument("mechanism", metavar="MECH", help="a mechanism name (see `mechanisms`)")
    p.add_argument("challenges", metavar="CHALLENGE", nargs="*", help="a server message, base64")
    p.add_argument("--username", help=f"the authentication identity (else ${USERNAME_ENV})")
    add_password_options(p)
    p.add_argument("--authzid", help="the identity to act as")
    p.add_argument("--realm", help="the realm, for mechanisms that use one")
    p.add_argument("--service", help="the service name, e.g. imap (default: smtp)")
    p.add_argument("--host", help="the server's host name (default: localhost)")
    p.add_argument("--serv-name", help="the service's name when it differs from --host")
    p.add_argument(
        "--cnonce",
        help="a fixed client nonce, for checks against known values: DIGEST-MD5's cnonce, "
        "SCRAM's client nonce, NTLM's ClientChallenge (16 hex digits)",
    )
    p.add_argument(
        "--timestamp",
        metavar="HEX",
        help="NTLM: a fixed client time, 16 hex digits (the 8-octet FILETIME as in the "
        "NTLMv2 blob), used when the server sends no MsvAvTimestamp",
    )
    p.add_argument("--token", help="the OAuth 2.0 bearer token (OAUTHBEARER, XOAUTH2)")
    p.add_argument("--token-file", metavar="FILE", help="the token is FILE's first line")
    p.add_argument("--port", type=int, help="the server's port, sent by OAUTHBEARER")
    p.add_argument("--trace", help="ANONYMOUS trace information (an email address or a token)")
    p.add_argument(
        "--qop",
        type=_names,
        help="DIGEST-MD5: the qops to accept, preferred first, e.g. auth-conf,auth-int "
        "(default: auth)",
    )
    p.add_argument(
        "--cipher",
        dest="ciphers",
        type=_names,
        help="DIGEST-MD5 auth-conf: the ciphers to accept, preferred first, e.g. 3des,rc4 "
        "(default: all, strongest first)",
    )
    p.add_argument("--raw", action="store_true", help="print messages as escaped text")


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list option (``--qop``, ``--cipher``), in order."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def respond(args: argparse.Namespace) -> int:
    """Print the client's answer to each challenge; an initial response comes first."""
    challenges = [decode_base64(t, f"challenge {n}") for n, t in enumerate(args.challenges, 1)]
    options = {k: getattr(args, k) for k in CLIENT_OPTIONS if getattr(args, k) is not None}
    if args.qop is not None:
        options["qops"] = args.qop
    username = args.username if args.username is not None else os.environ.get(USERNAME_ENV, "")
    if default_registry.get(args.mechanism).channel_binding:
        plain = args.mechanism.upper().removesuffix("-PLUS")
        raise CommandFailed(
            f"{args.mechanism.upper()} binds to a TLS connection and respond has none: "
            f"use {plain} (send and probe take --channel-binding)"
        )
    mech = default_registry.client(
        args.mechanism,
        username=username,
        password=password(args),
        token=secret(args.token, args.token_file, TOKEN_ENV, "token"),
        **options,
    )
    steps = [(f"challenge {n}", data) for n, data in enumerate(challenges, 1)]
    if mech.client_first and challenges[:1] != [b""]:  # else the empty challenge asks for it
        steps.insert(0, ("initial response", b""))
    if not steps:  # a mechanism that speaks second has nothing to say yet
        raise CommandFailed(
            f"{mech.name} answers the server: give its first challenge (base64) as CHALLENGE"
        )
    show = raw_text if args.raw else encode_base64
    for label, data in steps:
        if mech.complete and not (mech.answers_errors and data):
            raise CommandFailed(f"{label}: the {mech.name} exchange is already complete")
        try:
            print(show(mech.step(data) or b""))
        except SASLError as exc:
            status = EXIT_FAILED if isinstance(exc, MutualAuthenticationFailed) else EXIT_BAD_INPUT
            raise CommandFailed(f"{label}: {exc}", status) from None
    return EXIT_OK
