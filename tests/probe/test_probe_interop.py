"""``sasl-kit probe`` against the private Dovecot (IMAP, POP3) and Postfix (SMTP).

Proof for issue 7: listing without credentials, every mechanism tried with the
right and with a wrong password, and a Dovecot whose passdb holds hashes only,
where CRAM-MD5, DIGEST-MD5 and SCRAM are advertised but cannot work.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from sasl_kit.cli import main
from sasl_kit.probe import Outcome, Report, Target, probe
from tests.interop.mta import HOST, MECHANISMS, Dovecot, MailSite, Postfix
from tests.interop.peers import ALICE
from tests.probe.conftest import HashedSite

pytestmark = pytest.mark.interop

TIMEOUT = 10.0
PLAINTEXT = ("PLAIN", "LOGIN")
SHARED_SECRET = tuple(m for m in MECHANISMS if m not in PLAINTEXT)

Url = Callable[[Dovecot, Postfix], str]
URLS = [
    pytest.param(lambda d, p: f"imap://{HOST}:{d.imap_port}", id="imap"),
    pytest.param(lambda d, p: f"pop3://{HOST}:{d.pop3_port}", id="pop3"),
    pytest.param(lambda d, p: f"smtp://{HOST}:{p.smtp_port}", id="smtp"),
]


def _probe(
    url: str, site: MailSite, password: str | None, channel_binding: str | None = None
) -> Report:
    return probe(
        url,
        username=None if password is None else ALICE.user,
        password=password or "",
        cafile=site.cafile,
        timeout=TIMEOUT,
        channel_binding=channel_binding,
    )


@pytest.mark.parametrize("url", URLS)
def test_without_credentials_lists_before_and_after_tls_and_tries_nothing(
    mail_store: MailSite, dovecot: Dovecot, postfix: Postfix, url: Url
) -> None:
    report = _probe(url(dovecot, postfix), mail_store, None)
    assert set(report.offered) == set(MECHANISMS)
    # Postfix offers AUTH only after STARTTLS (smtpd_tls_auth_only); Dovecot before too.
    expected_before = set() if report.target.protocol == "smtp" else set(MECHANISMS)
    assert report.before_tls is not None
    assert set(report.before_tls) == expected_before
    assert report.attempts == ()


# Dovecot 2.3 offers no -PLUS: asking for channel binding must change nothing there.
@pytest.mark.parametrize("binding", [None, "tls-server-end-point"])
@pytest.mark.parametrize("url", URLS)
def test_right_password_works_with_every_mechanism(
    mail_store: MailSite, dovecot: Dovecot, postfix: Postfix, url: Url, binding: str | None
) -> None:
    report = _probe(url(dovecot, postfix), mail_store, ALICE.password, binding)
    assert {a.mechanism: a.outcome for a in report.attempts} == dict.fromkeys(
        MECHANISMS, Outcome.OK
    )
    for attempt in report.attempts:
        assert attempt.round_trips >= 1
        assert attempt.transcript[-1].startswith("S: ")
        assert attempt.diagnosis == ""


@pytest.mark.parametrize("url", URLS)
def test_wrong_password_is_rejected_everywhere_and_diagnosed_as_the_password(
    mail_store: MailSite, dovecot: Dovecot, postfix: Postfix, url: Url
) -> None:
    report = _probe(url(dovecot, postfix), mail_store, "not-" + ALICE.password)
    by_name = {a.mechanism: a for a in report.attempts}
    assert {n: a.outcome for n, a in by_name.items()} == dict.fromkeys(MECHANISMS, Outcome.REJECTED)
    assert "a wrong password" in by_name["PLAIN"].diagnosis
    for name in SHARED_SECRET:
        assert by_name[name].diagnosis.startswith(
            "PLAIN was rejected too: a wrong password or an unknown user"
        )
    assert report.verdict.startswith("none works; every mechanism tried was rejected")
    for name in ("CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"):
        verified = by_name[name].verified
        assert verified is not None
        assert verified.verdict in ("correct", "unverifiable")  # our client did its part


@pytest.mark.parametrize("url", URLS)
def test_hashed_passdb_shared_secret_mechanisms_are_advertised_but_cannot_work(
    hashed_site: HashedSite, url: Url
) -> None:
    report = _probe(url(hashed_site.dovecot, hashed_site.postfix), hashed_site.site, ALICE.password)
    by_name = {a.mechanism: a for a in report.attempts}
    assert set(report.offered) == set(MECHANISMS)
    for name in PLAINTEXT:
        assert by_name[name].outcome is Outcome.OK
    for name in SHARED_SECRET:
        assert by_name[name].outcome is Outcome.REJECTED
        assert by_name[name].diagnosis.startswith("advertised but cannot work")
        assert name in by_name[name].diagnosis


def test_cli_reports_broken_mechanisms_as_such_and_exits_1(
    hashed_site: HashedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"imap://{HOST}:{hashed_site.dovecot.imap_port}"
    argv = ["probe", url, "--username", ALICE.user, "--password", ALICE.password]
    argv += ["--cafile", hashed_site.site.cafile, "--timeout", str(TIMEOUT)]
    assert main([*argv, "-v"]) == 1
    text = capsys.readouterr().out
    assert "advertised after TLS:  PLAIN LOGIN CRAM-MD5" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.split()[:1]}
    assert rows["PLAIN"].split()[1:3] == ["yes", "ok"]
    assert rows["CRAM-MD5"].split()[1:3] == ["yes", "rejected"]
    assert "advertised but cannot work" in rows["CRAM-MD5"]
    assert main([*argv, "--json"]) == 1
    out = capsys.readouterr().out
    data = json.loads(out)
    outcomes = {a["mechanism"]: a["outcome"] for a in data["attempts"]}
    assert outcomes["PLAIN"] == "ok"
    assert outcomes["SCRAM-SHA-256"] == "rejected"
    plain = base64.b64encode(f"\0{ALICE.user}\0{ALICE.password}".encode()).decode()
    for shown in (text, out):
        assert plain not in shown
        assert ALICE.password not in shown


def test_cli_lists_only_without_credentials_and_exits_0(
    mail_store: MailSite, dovecot: Dovecot, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"pop3://{HOST}:{dovecot.pop3_port}"
    assert main(["probe", url, "--cafile", mail_store.cafile, "--timeout", str(TIMEOUT)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{url} (STLS)"  # POP3's STARTTLS is the STLS command (RFC 2595 4)
    assert out[1] == f"advertised before TLS: {' '.join(MECHANISMS)}"
    assert len(out) == 3


@pytest.mark.parametrize("allow_plaintext", [False, True])
@pytest.mark.parametrize("url", URLS[:2])  # Postfix offers AUTH only after STARTTLS
def test_without_tls_dovecot_is_probed_on_the_plain_connection(
    mail_store: MailSite, dovecot: Dovecot, postfix: Postfix, url: Url, allow_plaintext: bool
) -> None:
    report = probe(
        Target.from_url(url(dovecot, postfix)).without_tls(),
        username=ALICE.user,
        password=ALICE.password,
        timeout=TIMEOUT,
        allow_plaintext=allow_plaintext,
    )
    assert report.after_tls is None and set(report.offered) == set(MECHANISMS)
    plain = Outcome.OK if allow_plaintext else Outcome.SKIPPED
    assert {a.mechanism: a.outcome for a in report.attempts} == {
        name: plain if name in PLAINTEXT else Outcome.OK for name in MECHANISMS
    }


def test_without_tls_postfix_offers_nothing_to_try_and_the_verdict_says_so(
    mail_store: MailSite, dovecot: Dovecot, postfix: Postfix, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"smtp://{HOST}:{postfix.smtp_port}"
    argv = ["probe", url, "--no-tls", "--username", ALICE.user, "--password", ALICE.password]
    assert main([*argv, "--timeout", str(TIMEOUT)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{url} (no TLS)",
        "advertised without TLS: (none)",
        "",
        "verdict: nothing to try: the server advertised no mechanism on this connection",
    ]
