"""Transcripts recorded from real peers, right and wrong passwords, each diagnosed correctly.

GNU SASL's and Cyrus SASL's clients answer a sasl-kit server (their responses
are what is judged); a sasl-kit client answers a Cyrus server that checks
passwords through saslauthd, which rejects a correct CRAM-MD5 response; swaks
logs in to the private Postfix (SASL through Dovecot) and its own output is
the transcript.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sasl_kit import verify
from tests.interop.conftest import require_programs
from tests.interop.mta import DOMAIN, HOST, Postfix
from tests.interop.peers import (
    ALICE,
    CYRUS_SERVER,
    JURGEN,
    SITE,
    STDBUF,
    CyrusConfig,
    peer_env,
    run_cyrus_client,
    run_cyrus_server,
    run_gsasl_client,
)
from tests.verify.recording import Recorder

pytestmark = pytest.mark.interop

SWAKS = "/usr/bin/swaks"
WRONG_PASSWORD = "not-the-password"
MECHANISMS = ("PLAIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256")


def _only(transcript: str) -> verify.Exchange:
    exchanges = verify.read(transcript)
    assert len(exchanges) == 1, transcript
    return exchanges[0]


def _judge(transcript: str, password: str) -> verify.Diagnosis:
    return verify.diagnose(
        _only(transcript),
        username=ALICE.user,
        password=password,
        service=SITE.service,
        host=SITE.host,
    )


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("right", [True, False], ids=["right-password", "wrong-password"])
def test_gsasl_client_responses_are_judged_by_the_password(
    mechanism: str, right: bool, gsasl: Path
) -> None:
    recorder = Recorder()
    outcome = run_gsasl_client(
        mechanism,
        recorder.server(SITE.kit_server(mechanism)),
        site=SITE,
        account=ALICE,
        workdir=gsasl,
        password=None if right else WRONG_PASSWORD,
    )
    assert (outcome.kit_error is None) == right, outcome
    transcript = recorder.smtp(mechanism, success=right)
    assert _only(transcript).outcome.success is right
    correct = _judge(transcript, ALICE.password)
    assert (correct.verdict, correct.side) == (
        ("correct", None) if right else ("wrong", "client")
    ), correct
    if not right:
        assert correct.mistake is None and "does not match" in correct.explanation
        assert _judge(transcript, WRONG_PASSWORD).verdict == "correct"


@pytest.mark.parametrize("mechanism", ("PLAIN", "CRAM-MD5", "DIGEST-MD5"))
@pytest.mark.parametrize("right", [True, False], ids=["right-password", "wrong-password"])
def test_cyrus_client_responses_are_judged_by_the_password(
    mechanism: str, right: bool, cyrus: CyrusConfig
) -> None:
    recorder = Recorder()
    outcome = run_cyrus_client(
        mechanism,
        recorder.server(SITE.kit_server(mechanism)),
        config=cyrus,
        account=ALICE,
        password=None if right else WRONG_PASSWORD,
    )
    assert (outcome.kit_error is None) == right, outcome
    transcript = recorder.imap(mechanism, success=right)
    diagnosis = _judge(transcript, ALICE.password)
    assert diagnosis.verdict == ("correct" if right else "wrong"), (diagnosis, transcript)


def _saslauthd_config(directory: Path) -> CyrusConfig:
    """A Cyrus sample server that checks passwords through saslauthd, which is not running."""
    directory.mkdir()
    (directory / "sample.conf").write_text(
        f"pwcheck_method: saslauthd\nsaslauthd_path: {directory}/mux\nmech_list: CRAM-MD5 PLAIN\n",
        encoding="utf-8",
    )
    return CyrusConfig(directory, SITE)


def test_saslauthd_server_rejecting_a_correct_cram_md5_is_the_servers_fault(
    cyrus: CyrusConfig, tmp_path: Path
) -> None:
    require_programs(CYRUS_SERVER, STDBUF)
    recorder = Recorder()
    client = recorder.client(SITE.kit_client("CRAM-MD5", ALICE))
    outcome = run_cyrus_server("CRAM-MD5", client, config=_saslauthd_config(tmp_path / "cy"))
    assert not outcome.peer_ok, outcome
    transcript = recorder.smtp("CRAM-MD5", success=False)
    diagnosis = _judge(transcript, ALICE.password)
    assert (diagnosis.verdict, diagnosis.side) == ("correct", "server"), transcript
    assert any("saslauthd" in cause for cause in diagnosis.server_causes)


def _swaks(postfix: Postfix, mechanism: str, password: str, workdir: Path) -> str:
    argv = [
        SWAKS,
        "--server",
        HOST,
        "--port",
        str(postfix.smtp_port),
        "--tls",
        "--from",
        f"alice@{DOMAIN}",
        "--to",
        f"bob@{DOMAIN}",
        "--quit-after",
        "AUTH",
        "--auth",
        mechanism,
        "--auth-user",
        ALICE.user,
        "--auth-password",
        password,
    ]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=peer_env(workdir),
        cwd=workdir,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("right", [True, False], ids=["right-password", "wrong-password"])
def test_swaks_output_from_postfix_is_read_and_judged(
    postfix: Postfix, right: bool, tmp_path: Path
) -> None:
    require_programs(SWAKS)
    output = _swaks(postfix, "CRAM-MD5", ALICE.password if right else WRONG_PASSWORD, tmp_path)
    assert verify.notation(output) == "swaks"
    exchange = _only(output)
    assert (exchange.protocol, exchange.mechanism, exchange.outcome.success) == (
        "smtp",
        "CRAM-MD5",
        right,
    ), output
    diagnosis = verify.diagnose(exchange, username=ALICE.user, password=ALICE.password)
    assert diagnosis.verdict == ("correct" if right else "wrong"), (diagnosis, output)


def test_gsasl_hashing_a_latin1_user_name_as_utf8_is_named(gsasl: Path) -> None:
    """GNU SASL 2.2.0 hashes a non-ASCII user name as UTF-8 (docs/interop.md): a real
    instance of ``missing-latin1-conversion``."""
    recorder = Recorder()
    run_gsasl_client(
        "DIGEST-MD5",
        recorder.server(SITE.kit_server("DIGEST-MD5")),
        site=SITE,
        account=JURGEN,
        workdir=gsasl,
    )
    diagnosis = verify.diagnose(
        _only(recorder.smtp("DIGEST-MD5", success=False)),
        password=JURGEN.password,
        service=SITE.service,
        host=SITE.host,
    )
    assert (diagnosis.verdict, diagnosis.mistake) == ("wrong", "missing-latin1-conversion")
