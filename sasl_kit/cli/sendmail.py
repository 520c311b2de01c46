"""``sasl-kit sendmail``: the sendmail(8) interface, for mail(1), cron, git and mutt (docs/cli.md).

Rules of this module:
- The message comes on standard input, ready (``sasl_kit.mail.ready``): it is
  sent as it is, with a From field added only when it has none. Recipients
  are the arguments, and with ``-t`` also To, Cc and Bcc (Bcc then removed).
- The options are those sendmail's callers pass (``-t -i -oi -f -F -N -R -V
  -v``, and ``-o``/``-B``/``-bm`` accepted and ignored, as msmtp does); the
  server, the credentials and TLS come from an account (``--account``, else
  the file's ``default``), since a program that calls sendmail cannot pass
  them. Anything else is a usage error.
- Exit statuses are sysexits(3), as msmtp's: 0 sent to every recipient,
  64 EX_USAGE (bad options, no account), 65 EX_DATAERR (a message that cannot
  be read or sent as it is), 68 EX_NOHOST (the server's name does not resolve),
  69 EX_UNAVAILABLE (refused for good: the message, a recipient, or the client
  refused it before sending), 75 EX_TEMPFAIL (refused for now, the connection
  failed, or the outcome is unknown: a retry may then deliver twice), 77
  EX_NOPERM (authentication refused or TLS required).
- ``-i``/``-oi`` change nothing: the message always ends at the end of input,
  and dot-stuffing is the SMTP client's.
"""

from __future__ import annotations

import argparse
from typing import Any

from sasl_kit.cli import accounts
from sasl_kit.cli.common import CommandFailed, Parser, fail
from sasl_kit.cli.send import ACCOUNT_KEYS, Failure, Plan, _dsn, _server, deliver, read_bytes
from sasl_kit.errors import MessageError, SASLError
from sasl_kit.mail.ready import ready
from sasl_kit.smtp import Status

EX_OK, EX_USAGE, EX_DATAERR, EX_NOHOST, EX_UNAVAILABLE = 0, 64, 65, 68, 69
EX_TEMPFAIL, EX_NOPERM = 75, 77
EXIT_STATUSES = {
    EX_USAGE: "EX_USAGE (bad input, in place of 2)",
    EX_DATAERR: "EX_DATAERR (the message)",
    EX_NOHOST: "EX_NOHOST",
    EX_UNAVAILABLE: "EX_UNAVAILABLE (refused, in place of 1)",
    EX_TEMPFAIL: "EX_TEMPFAIL (refused for now, or the outcome unknown)",
    EX_NOPERM: "EX_NOPERM (the credentials refused)",
}
"""This command's statuses beyond ``common``'s (sysexits(3)), for the top-level help."""
KINDS = {
    "usage": EX_USAGE,
    "nohost": EX_NOHOST,
    "unavailable": EX_UNAVAILABLE,
    "refused": EX_UNAVAILABLE,
    "tempfail": EX_TEMPFAIL,
    "unknown": EX_TEMPFAIL,
    "noperm": EX_NOPERM,
}
"""``send.Failure.kind`` -> exit status."""


def register(commands: Any) -> None:
    p = commands.add_parser(
        "sendmail",
        add_help=False,
        prefix_chars="+",  # every "-x" goes to the arguments, parsed by _parser()
        help="a sendmail(8) for mail(1), cron, git send-email and mutt",
        description="Read a message on standard input and send it through an account's "
        "server (docs/cli.md).",
    )
    p.add_argument("arguments", nargs=argparse.REMAINDER)
    p.set_defaults(command=run)


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="sasl-kit sendmail",
        allow_abbrev=False,
        add_help=True,
        description="sendmail(8) over SMTP AUTH: the message on standard input.",
    )
    p.add_argument(
        "-t",
        dest="read_recipients",
        action="store_true",
        help="recipients from To, Cc and Bcc too (Bcc is removed)",
    )
    p.add_argument(
        "-i",
        dest="ignore_dots",
        action="store_true",
        help="a lone '.' does not end the message (it never does here)",
    )
    p.add_argument("-f", "-r", dest="sender", metavar="FROM", help="the envelope sender")
    p.add_argument(
        "-F", dest="full_name", metavar="NAME", help="the sender's name, for a From added"
    )
    p.add_argument("-N", dest="dsn_notify", metavar="DSN", help="never, or success,failure,delay")
    p.add_argument("-R", dest="dsn_ret", type=str.upper, choices=("FULL", "HDRS"), metavar="RET")
    p.add_argument("-V", dest="dsn_envid", metavar="ENVID", help="an envelope id for the DSNs")
    p.add_argument(
        "-o",
        dest="options",
        action="append",
        default=[],
        metavar="OPTION",
        help="sendmail options (-oi, -oem, -odb ...): accepted and ignored",
    )
    p.add_argument("-B", dest="body_type", metavar="TYPE", help="accepted and ignored")
    p.add_argument(
        "-b", dest="mode", default="m", metavar="MODE", help="only -bm (deliver mail) is supported"
    )
    p.add_argument("-v", dest="verbose", action="store_true", help="C:/S: transcript on stderr")
    p.add_argument("-C", dest="config", metavar="FILE", help="the accounts file")
    p.add_argument("--config", dest="config", metavar="FILE", help="the accounts file")
    p.add_argument("--account", metavar="NAME", help="the account (default: the file's default)")
    p.add_argument("recipients", nargs="*", metavar="RCPT")
    return p  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        return _sendmail(args.arguments)
    except Failure as exc:
        return fail(str(exc), KINDS[exc.kind])
    except CommandFailed as exc:
        return fail(str(exc), EX_USAGE)
    except MessageError as exc:
        return fail(str(exc), EX_DATAERR)
    except SASLError as exc:  # an unknown mechanism in the account, a bad option value
        return fail(str(exc), EX_USAGE)


def _sendmail(arguments: list[str]) -> int:
    options, extra = _parser().parse_known_args(arguments)
    if extra:  # named, never echoed: the word after an unknown option may be a secret
        unknown = [word.split("=", 1)[0] for word in extra if word.startswith("-")]
        raise CommandFailed(f"unrecognized option {', '.join(unknown) or extra[0][:1] + '...'}")
    if options.mode != "m":
        raise CommandFailed(f"-b{options.mode}: only -bm (deliver a message) is supported")
    account = accounts.load(options)
    if account is None:
        raise CommandFailed(
            "no account: give --account NAME, or a 'default' in the accounts file "
            f"({accounts.default_path()})"
        )
    values = argparse.Namespace(
        server=None, username=None, cafile=None, channel_binding=None, ehlo=None,
        sender=options.sender, mechanism=None, allow_plaintext=False, no_tls=False,
    )  # fmt: skip
    accounts.fill(values, account, ACCOUNT_KEYS)
    values.no_tls = account.get("tls") == "none"
    if values.server is None:
        raise CommandFailed(f"account {account.name!r} names no server")
    server = _server(values, account, f"account {account.name!r}: server")
    if values.username is not None and server.tls == "none" and not values.allow_plaintext:
        raise CommandFailed(
            f"account {account.name!r}: tls = 'none' with a username needs allow_plaintext = true"
        )
    if values.channel_binding is not None and server.tls == "none":
        raise CommandFailed(
            f"account {account.name!r}: channel_binding binds to TLS, and tls = 'none' has none"
        )
    data = read_bytes("standard input", "-")
    headers = []
    if values.sender is not None and not _has_from(data):
        name = f'"{options.full_name}" ' if options.full_name else ""
        headers.append(("From", f"{name}<{values.sender}>"))
    message = ready(
        data,
        sender=values.sender,
        recipients=options.recipients,
        read_recipients=options.read_recipients,
        headers=headers,
    )
    plan = Plan(
        server=server,
        message=message,
        sender=message.sender,
        recipients=message.recipients,
        username=values.username,
        password=(account.password() or "") if values.username is not None else "",
        mechanisms=values.mechanism,
        allow_plaintext=values.allow_plaintext,
        cafile=values.cafile,
        channel_binding=values.channel_binding,
        ehlo=values.ehlo,
        dsn=_dsn(options),
        verbose=options.verbose,
        no_starttls=f'{{host}} does not offer STARTTLS: set tls = "none" in account '
        f"{account.name!r} to send without TLS (with a username, also allow_plaintext = true: "
        "the credentials then cross in the clear)",
    )
    result = deliver(plan).result
    assert result is not None
    if result.status is Status.SENT:
        return EX_OK
    refused = ", ".join(
        f"{r.address} ({r.code} {r.text})".replace("None ", "") for r in result.refused
    )
    if result.status is Status.PARTIAL:
        return fail(f"delivered, but refused for {refused}", EX_UNAVAILABLE)
    reason = f"{result.code} {result.text}".strip() if result.code is not None else result.text
    status = EX_TEMPFAIL if result.status is Status.TEMPORARY else EX_UNAVAILABLE
    return fail(f"not sent: {reason or refused}", status)


def _has_from(data: bytes) -> bool:
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return any(line.lower().startswith(b"from:") for line in head.split(b"\n"))
