"""``sasl_kit.probe`` without a server: URLs, diagnosis rules, what a transcript shows."""

from __future__ import annotations

import argparse
import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import UsageError
from sasl_kit.cli import main
from sasl_kit.cli import probe as probe_cli
from sasl_kit.probe import (
    SCHEMES,
    Attempt,
    NotTried,
    Outcome,
    Report,
    Target,
    diagnose,
    shown_lines,
    summarize,
)
from sasl_kit.protocols import profile
from sasl_kit.smtp import SMTPClient
from sasl_kit.smtp.errors import ConnectionFailed


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", Target("smtp", "mail.example.org", 587, "starttls")),
        ("smtps://mail.example.org", Target("smtp", "mail.example.org", 465, "implicit")),
        ("imap://mail.example.org", Target("imap", "mail.example.org", 143, "starttls")),
        ("IMAPS://mail.example.org:1993/", Target("imap", "mail.example.org", 1993, "implicit")),
        ("pop3://127.0.0.1:1110", Target("pop3", "127.0.0.1", 1110, "starttls")),
        ("pop3s://[::1]", Target("pop3", "::1", 995, "implicit")),
    ],
)
def test_url_gives_protocol_tls_mode_and_default_port(url: str, expected: Target) -> None:
    assert Target.from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host",
        "imap://",
        "imap://user:pw@host",
        "smtp://host:99999",
        "imap://host/INBOX",
        "smtp://[::1",  # urlsplit's ValueError
        "smtp://]host",
        "smtp://mail..example.org",  # an empty label: IDNA's UnicodeError when connecting
        "smtp://" + "a" * 64 + ".example.org",  # a label over 63 (RFC 1035 2.3.4)
    ],
)
def test_bad_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        Target.from_url(url)


@given(st.text(max_size=80).map(lambda rest: f"smtp://{rest}"))
def test_any_url_is_a_target_or_a_usage_error(url: str) -> None:
    try:
        target = Target.from_url(url)
    except UsageError:
        return
    assert target.host and 0 <= target.port <= 65535 and target.url.startswith("smtp://")


def test_a_host_name_idna_refuses_is_a_connection_failure_of_the_smtp_client() -> None:
    client = SMTPClient("a" * 64 + ".example.org", 25, tls="none", timeout=1)
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        client.connect()


def _attempt(name: str, outcome: Outcome, *, plaintext: bool = False) -> Attempt:
    return Attempt(name, outcome, plaintext, round_trips=1, seconds=0.0, detail="server said no")


def test_shared_secret_rejected_while_plain_works_is_advertised_but_cannot_work() -> None:
    plain, cram = diagnose(
        [_attempt("PLAIN", Outcome.OK, plaintext=True), _attempt("CRAM-MD5", Outcome.REJECTED)]
    )
    assert plain.diagnosis == ""
    assert cram.diagnosis.startswith("advertised but cannot work")
    assert "saslauthd" in cram.diagnosis


def test_a_host_bound_mechanism_that_works_by_another_name_is_diagnosed_as_the_host() -> None:
    digest = Attempt(
        "DIGEST-MD5",
        Outcome.REJECTED,
        host="localhost",
        other_hosts=(("mail.example.org", Outcome.OK),),
    )
    _, digest = diagnose([_attempt("PLAIN", Outcome.OK, plaintext=True), digest])
    assert digest.diagnosis.startswith(
        "the server checks the host name in DIGEST-MD5's digest-uri: it refused 'localhost' "
        "and accepted 'mail.example.org'"
    )


def test_other_host_names_that_fail_too_are_said_after_cannot_work() -> None:
    digest = Attempt(
        "DIGEST-MD5",
        Outcome.REJECTED,
        host="localhost",
        other_hosts=(("realm.example.org", Outcome.REJECTED),),
    )
    _, digest = diagnose([_attempt("PLAIN", Outcome.OK, plaintext=True), digest])
    assert digest.diagnosis.startswith("advertised but cannot work")
    assert digest.diagnosis.endswith(
        "; a host name other than 'localhost' in digest-uri did not help either "
        "('realm.example.org')"
    )


def test_everything_rejected_is_the_password() -> None:
    plain, cram = diagnose(
        [
            _attempt("PLAIN", Outcome.REJECTED, plaintext=True),
            _attempt("CRAM-MD5", Outcome.REJECTED),
        ]
    )
    assert plain.diagnosis.startswith("the server refused the password itself: a wrong password")
    assert cram.diagnosis.startswith("PLAIN was rejected too: a wrong password or an unknown user")
    assert "saslauthd not running" in cram.diagnosis


def _tried(protocol: str, name: str, replies: list[bytes]) -> Attempt:
    """An Attempt as ``probe`` records it, from ``protocol``'s profile run on ``replies``."""
    mechanism = sasl_kit.client(name, username="tim", password="tanstaaftanstaaf")
    auth = profile(protocol).client(name, mechanism)
    auth.start()
    for reply in replies:
        auth.receive(reply)
    plaintext = name in ("PLAIN", "LOGIN")
    lines = tuple(str(line) for line in auth.transcript)
    return Attempt(
        name, Outcome.OK, plaintext, transcript=lines, shown=shown_lines(auth.transcript, plaintext)
    )


def test_shown_transcript_hides_plaintext_payloads_only_as_the_profile_redacts_them() -> None:
    secret = base64.b64encode(b"\0tim\0tanstaaftanstaaf").decode()
    pop3 = _tried("pop3", "PLAIN", [b"+OK Logged in\r\n"])
    assert pop3.shown_transcript() == ("C: AUTH PLAIN <redacted>", "S: +OK Logged in")
    smtp = _tried(
        "smtp", "LOGIN", [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 ok\r\n"]
    )
    assert smtp.shown_transcript() == (
        "C: AUTH LOGIN",
        "S: 334 VXNlcm5hbWU6",
        "C: <redacted>",
        "S: 334 UGFzc3dvcmQ6",
        "C: <redacted>",
        "S: 235 ok",
    )
    cram = Attempt("CRAM-MD5", Outcome.OK, transcript=("C: AUTH CRAM-MD5", "C: abc"))
    assert cram.shown_transcript() == cram.transcript
    bare = Attempt("PLAIN", Outcome.OK, True, transcript=(f"C: AUTH PLAIN {secret}", "S: 235"))
    assert bare.shown_transcript() == ("C: <redacted>", "S: 235")  # no profile lines: all blanked
    assert all(secret not in repr(a) for a in (pop3, smtp, bare))
    assert secret in pop3.transcript[0]


def test_cli_bad_url_exits_2_and_unreachable_server_exits_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["probe", "gopher://host"]) == 2
    assert main(["probe", "imap://127.0.0.1:1", "--timeout", "5"]) == 3
    err = capsys.readouterr().err
    assert "URL scheme must be one of" in err
    assert "cannot connect to 127.0.0.1:1" in err


def test_plaintext_rejected_while_a_shared_secret_mechanism_works_blames_the_plaintext_check() -> (
    None
):
    attempts = diagnose(
        [_attempt("CRAM-MD5", Outcome.OK), _attempt("PLAIN", Outcome.REJECTED, plaintext=True)]
    )
    assert attempts[1].diagnosis.startswith(
        "the password is right (CRAM-MD5 works with it), yet the server refused it"
    )
    verdict, next_step = summarize(attempts)
    assert verdict.startswith("CRAM-MD5 works; PLAIN rejected, the password being right")
    assert next_step is None


def test_one_shared_secret_mechanism_working_makes_another_s_rejection_its_own_fault() -> None:
    verdict, _ = summarize(
        diagnose([_attempt("SCRAM-SHA-256", Outcome.OK), _attempt("CRAM-MD5", Outcome.REJECTED)])
    )
    assert verdict == (
        "SCRAM-SHA-256 works; CRAM-MD5 rejected the password SCRAM-SHA-256 accepts: advertised "
        "but cannot work (see their rows)"
    )


def test_nothing_tried_and_all_working_verdicts_name_what_was_not_tried() -> None:
    skipped = Attempt("PLAIN", Outcome.SKIPPED, True, detail="x", not_tried=NotTried.PLAINTEXT)
    assert summarize([skipped]) == ("nothing could be tried; not tried: PLAIN", None)
    assert summarize([_attempt("CRAM-MD5", Outcome.OK), skipped]) == (
        "the one mechanism tried works (CRAM-MD5); not tried: PLAIN",
        None,
    )


# What each protocol calls its upgrade of a plain connection to TLS.
TLS_UPGRADES = {
    "smtp": "STARTTLS",  # RFC 3207 4
    "imap": "STARTTLS",  # RFC 9051 6.2.1
    "pop3": "STLS",  # RFC 2595 4
    "ldap": "StartTLS",  # RFC 4511 4.14
    "xmpp": "STARTTLS",  # RFC 6120 5
    "sieve": "STARTTLS",  # RFC 5804 2.2
    "postgresql": "SSLRequest",  # PostgreSQL 15 docs 55.2.10 (what ?sslmode=require sends)
}
NO_UPGRADE = {"implicit": "implicit TLS", "none": "no TLS"}


def _header(target: Target) -> str:
    report = Report(target, None, (), ())
    return probe_cli.text(report, argparse.Namespace(verbose=False)).splitlines()[0]


@pytest.mark.parametrize("protocol", sorted({row[0] for row in SCHEMES.values()}))
def test_the_header_names_the_tls_upgrade_as_the_protocol_does(protocol: str) -> None:
    target = Target(protocol, "mail.example.org", 1, "starttls")
    assert _header(target) == f"{target.url} ({TLS_UPGRADES[protocol]})"


def test_postgresql_with_sslmode_require_is_sslrequest_not_starttls() -> None:
    target = Target.from_url("postgresql://db.example.org/app?sslmode=require")
    assert _header(target) == "postgresql://db.example.org:5432/app?sslmode=require (SSLRequest)"


def test_the_help_gives_each_scheme_its_protocols_tls_upgrade(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["probe", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for scheme, (protocol, tls, port) in SCHEMES.items():
        name = TLS_UPGRADES[protocol] if tls == "starttls" else NO_UPGRADE[tls]
        assert f"{scheme}:// ({name}, {port})" in shown
