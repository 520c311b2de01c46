"""``probe`` without TLS (issue 11): the plaintext policy, why each mechanism was or was not
tried, the seed's diagnosis, and bad servers as rows, against the scripted fake of the
seed's Sendmail (``tests/probe/fakes.py``) and against ``sasl-kit serve``.

The fake's answers follow what PEERS.md records of the real server: EHLO
``AUTH DIGEST-MD5 CRAM-MD5 LOGIN PLAIN`` without STARTTLS, PLAIN/LOGIN accepted,
CRAM-MD5/DIGEST-MD5 ``535 5.7.0 authentication failed`` with the right password.
"""

from __future__ import annotations

import json
import re

import pytest

from sasl_kit import UsageError
from sasl_kit.cli import main
from sasl_kit.probe import (
    SCHEMES,
    NextStep,
    NotTried,
    Outcome,
    Report,
    Target,
    TLSUnavailable,
    probe,
)
from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp_server import MailServer
from tests.probe.fakes import PASSWORD, USER, Seed, SeedServer, closed_port

TIMEOUT = 5.0
PYTHON_FORMS = re.compile(r"\b[a-z_]+=(?:'|\"|True|False|None)|\b[a-z_]+\([a-z_]+=")
"""A Python keyword argument in a message (``tls='none'``, ``login(require_tls=False)``)."""
IN_THE_CLEAR = ("--no-tls", "--allow-plaintext", "--username", USER, "--password", PASSWORD)


def _probe(server: SeedServer, *, allow_plaintext: bool = False) -> Report:
    return probe(
        Target.from_url(server.url).without_tls(),
        username=USER,
        password=PASSWORD,
        timeout=TIMEOUT,
        allow_plaintext=allow_plaintext,
    )


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["probe", *argv, "--timeout", str(TIMEOUT)])
    out, err = capsys.readouterr()
    return status, out, err


def _by_name(report: Report) -> dict[str, tuple[Outcome, NotTried | None]]:
    return {a.mechanism: (a.outcome, a.not_tried) for a in report.attempts}


def test_without_allow_plaintext_only_mechanisms_keeping_the_password_off_the_wire_are_tried() -> (
    None
):
    with SeedServer() as server:
        report = _probe(server)
    assert (report.before_tls, report.after_tls) == (Seed().mechanisms, None)
    assert _by_name(report) == {
        "DIGEST-MD5": (Outcome.REJECTED, None),
        "CRAM-MD5": (Outcome.REJECTED, None),
        "LOGIN": (Outcome.SKIPPED, NotTried.PLAINTEXT),
        "PLAIN": (Outcome.SKIPPED, NotTried.PLAINTEXT),
    }
    # Nothing can cross-check the password: the probe says so and what would tell.
    cram = next(a for a in report.attempts if a.mechanism == "CRAM-MD5")
    assert cram.diagnosis == (
        "our response is correct for this password, and nothing tried can tell a wrong "
        "password from a server that cannot verify CRAM-MD5: LOGIN and PLAIN were not "
        "tried without TLS"
    )
    assert report.next_step is NextStep.ALLOW_PLAINTEXT
    assert report.verdict.startswith(
        "none works; DIGEST-MD5, CRAM-MD5 rejected: without PLAIN or LOGIN nothing here can "
        "tell a wrong password from a server that cannot verify shared-secret mechanisms"
    )


def test_with_allow_plaintext_the_seed_server_is_diagnosed_as_unable_to_verify_shared_secrets() -> (
    None
):
    with SeedServer() as server:
        report = _probe(server, allow_plaintext=True)
    assert {a.mechanism: a.outcome for a in report.attempts} == {
        "DIGEST-MD5": Outcome.REJECTED,
        "CRAM-MD5": Outcome.REJECTED,
        "LOGIN": Outcome.OK,
        "PLAIN": Outcome.OK,
    }
    for attempt in report.attempts[:2]:
        assert attempt.diagnosis.startswith("advertised but cannot work")
    assert report.verdict.startswith(
        "LOGIN, PLAIN work; the server cannot verify shared-secret mechanisms: DIGEST-MD5, "
        "CRAM-MD5 rejected the password PLAIN accepts; likely Cyrus SASL checking passwords "
        "through saslauthd or PAM"
    )
    assert "pwcheck_method: auxprop" in report.verdict
    assert "stop advertising DIGEST-MD5, CRAM-MD5" in report.verdict
    assert report.next_step is None


def test_saslauthd_down_rejects_plain_too_and_the_diagnosis_says_that_instead() -> None:
    with SeedServer(Seed(saslauthd_down=True)) as server:
        report = _probe(server, allow_plaintext=True)
    assert {a.outcome for a in report.attempts} == {Outcome.REJECTED}
    assert report.verdict.startswith(
        "none works; every mechanism tried was rejected, LOGIN, PLAIN included: a wrong "
        "password or an unknown user, or the server cannot check any password now (e.g. "
        "Cyrus SASL's saslauthd not running)"
    )
    assert "cannot verify shared-secret" not in report.verdict


def test_cli_table_says_for_each_mechanism_whether_it_was_tried_and_why_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SeedServer() as server:
        status, out, err = _cli(
            capsys, server.url, "--no-tls", "--username", USER, "--password", PASSWORD
        )
    assert (status, err) == (1, "")
    lines = out.splitlines()
    assert lines[:2] == [
        f"{server.url} (no TLS)",
        f"advertised without TLS: {' '.join(Seed().mechanisms)}",
    ]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[4:8]}
    assert rows == {
        "DIGEST-MD5": ["yes", "rejected"],
        "CRAM-MD5": ["yes", "rejected"],
        "LOGIN": ["no", "skipped"],
        "PLAIN": ["no", "skipped"],
    }
    assert lines[7].endswith(
        "not tried: it sends the password in the clear and there is no TLS "
        "(--allow-plaintext tries it)"
    )
    assert lines[-1].startswith(
        f"next: sasl-kit probe {server.url} --no-tls --allow-plaintext --username alice"
    )
    assert not PYTHON_FORMS.search(out)


def test_cli_json_has_tried_and_not_tried_for_each_mechanism(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SeedServer() as server:
        status, out, _ = _cli(capsys, server.url, *IN_THE_CLEAR, "--json")
    found = json.loads(out)
    assert status == 1
    assert (found["tls"], found["after_tls"]) == ("none", None)
    assert [(a["mechanism"], a["tried"], a["outcome"]) for a in found["attempts"]] == [
        ("DIGEST-MD5", True, "rejected"),
        ("CRAM-MD5", True, "rejected"),
        ("LOGIN", True, "ok"),
        ("PLAIN", True, "ok"),
    ]
    assert found["verdict"].startswith("LOGIN, PLAIN work; the server cannot verify")
    assert found["next"] is None
    assert PASSWORD not in out


def test_a_server_without_starttls_is_refused_naming_the_cli_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SeedServer() as server:
        with pytest.raises(TLSUnavailable):
            probe(server.url, timeout=TIMEOUT)
        status, out, err = _cli(capsys, server.url)
    assert (status, out) == (3, "")
    assert err == (
        "sasl-kit: error: 127.0.0.1 does not offer STARTTLS: add --no-tls to probe it "
        "without TLS (and --allow-plaintext to try PLAIN and LOGIN in the clear)\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--allow-plaintext"], "--allow-plaintext goes with --no-tls"),
        (["--no-tls", "--channel-binding", "tls-unique"], "--channel-binding binds to TLS"),
    ],
)
def test_option_combinations_that_cannot_work_exit_2_before_connecting(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, _, err = _cli(capsys, f"smtp://127.0.0.1:{closed_port()}", *argv)
    assert status == 2 and message in err and not PYTHON_FORMS.search(err)


@pytest.mark.parametrize("scheme", [s for s, row in SCHEMES.items() if row[1] == "implicit"])
def test_no_tls_on_an_implicit_tls_url_is_bad_input(
    capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    with pytest.raises(UsageError):
        Target.from_url(f"{scheme}://mail.example.org").without_tls()
    status, _, err = _cli(capsys, f"{scheme}://127.0.0.1:1", "--no-tls")
    assert status == 2 and "--no-tls cannot go with an implicit-TLS scheme" in err
    assert f"{scheme}://" in err


@pytest.mark.parametrize("scheme", [s for s, row in SCHEMES.items() if row[1] != "implicit"])
def test_no_tls_goes_with_every_scheme_that_is_not_implicit_tls(scheme: str) -> None:
    target = Target.from_url(f"{scheme}://mail.example.org").without_tls()
    assert (target.protocol, target.tls) == (SCHEMES[scheme][0], "none")


def test_probe_help_names_every_scheme_with_its_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["probe", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for scheme, (_, _, port) in SCHEMES.items():
        assert re.search(rf"{scheme}:// \([^)]*, {port}\)", shown), scheme


def test_a_server_that_advertises_a_mechanism_and_answers_504_is_a_row_that_says_so() -> None:
    with SeedServer(Seed(unknown=frozenset({"CRAM-MD5"}))) as server:
        report = _probe(server, allow_plaintext=True)
    (cram,) = (a for a in report.attempts if a.mechanism == "CRAM-MD5")
    assert cram.outcome is Outcome.ERROR
    assert cram.diagnosis == (
        "the server advertised CRAM-MD5 and then refused it as unknown (504 5.3.3 AUTH "
        "mechanism CRAM-MD5 not available): its capability list is wrong, neither the client "
        "nor the password is at fault"
    )


def test_a_server_that_hangs_up_mid_probe_is_a_row_and_the_other_tries_go_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SeedServer(Seed(hang_up=frozenset({"LOGIN"}))) as server:
        status, out, err = _cli(capsys, server.url, *IN_THE_CLEAR, "--json")
    rows = {a["mechanism"]: a for a in json.loads(out)["attempts"]}
    assert (status, err) == (1, "")
    assert rows["LOGIN"]["outcome"] == "error"
    assert (
        rows["LOGIN"]["diagnosis"]
        == "127.0.0.1 closed the connection before replying to AUTH LOGIN"
    )
    assert rows["PLAIN"]["outcome"] == "ok"


def test_a_server_that_stops_answering_after_the_listing_gives_a_row_per_try() -> None:
    with SeedServer(Seed(greet=1)) as server:
        report = _probe(server, allow_plaintext=True)
    assert report.offered == Seed().mechanisms
    assert {a.outcome for a in report.attempts} == {Outcome.ERROR}
    for attempt in report.attempts:
        assert attempt.diagnosis.startswith("no session for this try: 127.0.0.1 closed")
    assert report.verdict.startswith(
        "none works; DIGEST-MD5, CRAM-MD5, LOGIN, PLAIN failed (see the rows)"
    )


def test_an_unreachable_host_exits_3_with_the_reason_in_json_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = closed_port()
    status, out, err = _cli(capsys, f"smtp://127.0.0.1:{port}", "--no-tls", "--json")
    assert status == 3
    found = json.loads(out)
    assert (found["probed"], found["url"]) == (False, f"smtp://127.0.0.1:{port}")
    assert found["error"].startswith(f"cannot connect to 127.0.0.1:{port}")
    assert err.startswith(f"sasl-kit: error: cannot connect to 127.0.0.1:{port}")


# --- against sasl-kit serve ---------------------------------------------------------------


def _serve(
    server: MailServer, *, allow_plaintext: bool
) -> dict[str, tuple[Outcome, NotTried | None]]:
    report = probe(
        Target("smtp", "127.0.0.1", server.port, "none"),
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        timeout=TIMEOUT,
        allow_plaintext=allow_plaintext,
    )
    assert report.after_tls is None and report.before_tls == report.offered
    return _by_name(report)


def test_serve_skipped_starttls_on_purpose_every_shared_secret_mechanism_works(
    smtp_server: MailServer,
) -> None:
    # Without allow_plaintext_auth, serve offers no plaintext mechanism before TLS.
    found = _serve(smtp_server, allow_plaintext=False)
    assert {"CRAM-MD5", "DIGEST-MD5", "NTLM", "SCRAM-SHA-256"} <= set(found)
    assert not {"PLAIN", "LOGIN"} & set(found)
    assert set(found.values()) == {(Outcome.OK, None)}


@pytest.mark.smtp_server(allow_plaintext_auth=True)
@pytest.mark.parametrize(
    ("allow", "plain"), [(False, (Outcome.SKIPPED, NotTried.PLAINTEXT)), (True, (Outcome.OK, None))]
)
def test_serve_offering_plain_without_tls_gets_it_tried_only_with_allow_plaintext(
    smtp_server: MailServer, allow: bool, plain: tuple[Outcome, NotTried | None]
) -> None:
    found = _serve(smtp_server, allow_plaintext=allow)
    assert found["PLAIN"] == found["LOGIN"] == plain
    assert found["CRAM-MD5"] == (Outcome.OK, None)
