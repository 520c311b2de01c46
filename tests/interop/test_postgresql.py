"""SASL against a real PostgreSQL 15 (tests/interop/postgresql.py), with and without TLS.

What PostgreSQL 15.18 of Debian 12 does here (see also ../shared/PEERS.md):
- AuthenticationSASL lists SCRAM-SHA-256 on a plain connection and
  SCRAM-SHA-256-PLUS SCRAM-SHA-256 after SSLRequest; its binding is
  tls-server-end-point.
- The role is the StartupMessage's ``user``: the SCRAM ``n=`` is ignored. An
  unknown role gets a made-up SCRAM challenge and fails at the proof with the
  same 28P01 as a wrong password.
- A binding that does not match, or the flag ``y`` ("I could bind, you did not
  offer it") on a connection where it offered -PLUS, is 28000: FAILED, not the
  password's fault.
- With ``ssl = off`` it answers SSLRequest with the one byte ``N`` (55.2.10):
  the driver's ``StartTLSUnavailable``, which ``probe`` turns into its hint to
  add ``--no-tls``.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

import sasl_kit
from sasl_kit.cli import main
from sasl_kit.drivers import open_session
from sasl_kit.drivers.base import Session, SessionSettings, StartTLSUnavailable
from sasl_kit.drivers.postgresql import PostgreSQLSession
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.probe import Outcome as ProbeOutcome
from sasl_kit.probe import TLSUnavailable, probe
from sasl_kit.protocols.base import ClientAuth, Outcome, Result, lines_of
from sasl_kit.protocols.errors import (
    CredentialsRejected,
    MechanismRefused,
    ServerRefused,
    SessionRefused,
)
from tests.interop.conftest import require_programs, require_root
from tests.interop.mta import HOST
from tests.interop.postgresql import (
    DATABASE,
    INITDB,
    POSTGRES,
    RUNUSER,
    PostgreSQL,
    postgresql_site,
)

pytestmark = pytest.mark.interop

BINDING = "tls-server-end-point"
MISSING = "no-such-database"
TLS_MODES = [pytest.param("none", id="plain"), pytest.param("starttls", id="tls")]


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    """A private PostgreSQL 15 cluster with ALICE, once per session."""
    require_programs(INITDB, POSTGRES, RUNUSER)
    require_root("the private PostgreSQL needs root (it runs as the postgres user)")
    with postgresql_site() as site, PostgreSQL(site) as server:
        server.start()
        yield server


@pytest.fixture(scope="session")
def postgresql_without_tls() -> Iterator[PostgreSQL]:
    """A second private cluster with ``ssl = off``, once per session, only where asked for."""
    require_programs(INITDB, POSTGRES, RUNUSER)
    require_root("the private PostgreSQL needs root (it runs as the postgres user)")
    with postgresql_site() as site, PostgreSQL(site, tls=False) as server:
        server.start()
        yield server


def session(server: PostgreSQL, tls: str, *, user: str | None = None, **options: str) -> Session:
    context = ssl.create_default_context(cafile=server.cafile)
    settings = SessionSettings(
        HOST,
        server.port,
        "starttls" if tls == "starttls" else "none",
        context,
        options={"user": user or server.user, "database": DATABASE, **options},
    )
    return open_session("postgresql", settings)


def client_auth(
    opened: Session,
    mechanism: str,
    password: str,
    user: str,
    binding: ChannelBinding | None = None,
    offers_plus: bool | None = None,
) -> ClientAuth:
    """The profile's exchange of ``mechanism`` on ``opened``, bound to its TLS if any."""
    plus = any(name.endswith("-PLUS") for name in opened.mechanisms)
    client = sasl_kit.client(
        mechanism,
        username=user,
        password=password,
        service=opened.profile.service,
        host=HOST,
        channel_binding=binding or opened.channel_binding(BINDING),
        server_offers_plus=plus if offers_plus is None else offers_plus,
    )
    return opened.profile.client(mechanism, client)


def login(
    server: PostgreSQL,
    tls: str,
    mechanism: str,
    password: str,
    *,
    user: str | None = None,
    binding: ChannelBinding | None = None,
    offers_plus: bool | None = None,
) -> tuple[Result, list[str]]:
    """One exchange in a new connection: its result and its whole transcript, unredacted."""
    opened = session(server, tls, user=user)
    try:
        auth = client_auth(opened, mechanism, password, user or server.user, binding, offers_plus)
        result = opened.authenticate(auth)
        assert isinstance(opened, PostgreSQLSession)
        return result, [*lines_of(opened.startup.transcript + auth.transcript, redact=False)]
    finally:
        opened.close()


def test_the_mechanism_list_without_and_with_tls(postgresql: PostgreSQL) -> None:
    plain, tls = session(postgresql, "none"), session(postgresql, "starttls")
    try:
        assert (plain.encrypted, plain.mechanisms) == (False, ("SCRAM-SHA-256",))
        assert (tls.encrypted, tls.mechanisms) == (True, ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"))
        assert plain.mechanisms_before_tls is None and tls.mechanisms_before_tls is None
    finally:
        plain.close()
        tls.close()


@pytest.mark.parametrize("tls", TLS_MODES)
def test_scram_sha_256_logs_in_with_the_right_password(postgresql: PostgreSQL, tls: str) -> None:
    result, lines = login(postgresql, tls, "SCRAM-SHA-256", postgresql.password)
    assert result.ok, lines
    assert lines[-2].startswith("S: AuthenticationSASLFinal ")
    assert lines[-1] == "S: AuthenticationOk"
    # The gs2 flag is n both times: no binding without TLS; with TLS the server offered -PLUS.
    client_final = base64.b64decode(lines[-3].removeprefix("C: SASLResponse "))
    assert client_final.startswith(b"c=biws,")  # base64 of "n,,"


def test_scram_sha_256_plus_logs_in_over_tls(postgresql: PostgreSQL) -> None:
    result, lines = login(postgresql, "starttls", "SCRAM-SHA-256-PLUS", postgresql.password)
    assert result.ok, lines
    assert lines[:4] == [
        "C: SSLRequest",
        "S: SSLResponse S",
        f"C: StartupMessage user={postgresql.user} database={DATABASE}",
        "S: AuthenticationSASL SCRAM-SHA-256-PLUS SCRAM-SHA-256",
    ]


@pytest.mark.parametrize("tls", TLS_MODES)
@pytest.mark.parametrize("user", [None, "nobody-here"], ids=["alice", "unknown-role"])
def test_a_wrong_password_or_unknown_role_is_credentials_rejected(
    postgresql: PostgreSQL, tls: str, user: str | None
) -> None:
    result, lines = login(postgresql, tls, "SCRAM-SHA-256", "not-her-password", user=user)
    assert (result.outcome, result.code) == (Outcome.REJECTED, "28P01"), lines
    with pytest.raises(CredentialsRejected, match="password authentication failed"):
        result.raise_for_outcome()


def test_a_binding_that_does_not_match_is_refused_by_the_server(postgresql: PostgreSQL) -> None:
    forged = ChannelBinding(BINDING, b"\0" * 32)
    result, lines = login(
        postgresql, "starttls", "SCRAM-SHA-256-PLUS", postgresql.password, binding=forged
    )
    assert (result.outcome, result.code) == (Outcome.FAILED, "28000"), lines
    with pytest.raises(ServerRefused, match="channel binding"):
        result.raise_for_outcome()


def test_claiming_the_server_offered_no_plus_is_a_downgrade_it_refuses(
    postgresql: PostgreSQL,
) -> None:
    result, lines = login(
        postgresql, "starttls", "SCRAM-SHA-256", postgresql.password, offers_plus=False
    )
    assert (result.outcome, result.code) == (Outcome.FAILED, "28000"), lines
    assert "negotiation" in result.text


def test_plus_is_not_started_where_it_was_not_offered(postgresql: PostgreSQL) -> None:
    with pytest.raises(MechanismRefused, match="did not offer SCRAM-SHA-256-PLUS"):
        login(
            postgresql,
            "none",
            "SCRAM-SHA-256-PLUS",
            postgresql.password,
            binding=ChannelBinding(BINDING, b"\0" * 32),
        )


@pytest.mark.parametrize("tls", TLS_MODES)
def test_a_login_to_a_database_that_exists_reads_on_to_ready_for_query(
    postgresql: PostgreSQL, tls: str
) -> None:
    opened = session(postgresql, tls)
    try:
        result = opened.authenticate(
            client_auth(opened, "SCRAM-SHA-256", postgresql.password, postgresql.user)
        )
        assert result.ok
        assert isinstance(opened, PostgreSQLSession)
        # ParameterStatus as PostgreSQL 15 sends them (55.2.7), read before ReadyForQuery.
        assert opened.parameters["server_version"].startswith("15.")
        assert opened.parameters["session_authorization"] == postgresql.user
    finally:
        opened.close()


@pytest.mark.parametrize("tls", TLS_MODES)
def test_the_right_password_to_a_missing_database_is_session_refused_with_3d000(
    postgresql: PostgreSQL, tls: str
) -> None:
    opened = session(postgresql, tls, database=MISSING)
    try:
        auth = client_auth(opened, "SCRAM-SHA-256", postgresql.password, postgresql.user)
        with pytest.raises(SessionRefused) as caught:
            opened.authenticate(auth)
    finally:
        opened.close()
    assert auth.result is not None and auth.result.ok  # SASL succeeded: AuthenticationOk
    assert (caught.value.code, caught.value.text) == (
        "3D000",
        f'database "{MISSING}" does not exist',
    )
    assert f'3D000 database "{MISSING}" does not exist' in str(caught.value)
    assert postgresql.password not in str(caught.value)


def test_the_certificate_is_verified(postgresql: PostgreSQL) -> None:
    settings = SessionSettings(HOST, postgresql.port, "starttls", options={"user": "alice"})
    with pytest.raises(ssl.SSLCertVerificationError):
        open_session("postgresql", settings)


@pytest.mark.parametrize(
    ("tls", "mechanism", "password", "status", "verdict"),
    [
        pytest.param("starttls", "SCRAM-SHA-256-PLUS", None, 0, "correct", id="plus-ok"),
        pytest.param("none", "SCRAM-SHA-256", None, 0, "correct", id="ok"),
        # The server rejected a response that is correct for the password verify is given.
        pytest.param("none", "SCRAM-SHA-256", "not-her-password", 0, "correct", id="rejected"),
    ],
)
def test_a_live_transcript_goes_through_sasl_kit_verify(
    postgresql: PostgreSQL,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tls: str,
    mechanism: str,
    password: str | None,
    status: int,
    verdict: str,
) -> None:
    sent = password or postgresql.password
    result, lines = login(postgresql, tls, mechanism, sent)
    (tmp_path / "transcript").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "password").write_text(sent + "\n", encoding="utf-8")
    argv = ["verify", str(tmp_path / "transcript"), "--password-file", str(tmp_path / "password")]
    assert main(argv) == status
    out = capsys.readouterr().out
    assert f"POSTGRESQL {mechanism}, {'accepted' if result.ok else 'rejected'}" in out
    assert f"verdict: {verdict}" in out
    assert ("erred: no one" if result.ok else "erred: server") in out
    assert sent not in out


def test_verify_says_the_client_erred_when_given_another_password(
    postgresql: PostgreSQL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lines = login(postgresql, "none", "SCRAM-SHA-256", "not-her-password")
    (tmp_path / "transcript").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "password").write_text(postgresql.password + "\n", encoding="utf-8")
    argv = ["verify", str(tmp_path / "transcript"), "--password-file", str(tmp_path / "password")]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "verdict: wrong" in out and "erred: client" in out


# --- sasl-kit probe -----------------------------------------------------------------------


def test_probe_lists_what_the_server_offers_without_and_with_tls(postgresql: PostgreSQL) -> None:
    plain = probe(postgresql.url, cafile=postgresql.cafile)
    assert (plain.target.tls, plain.after_tls) == ("none", None)  # the one list, without TLS
    assert plain.before_tls == ("SCRAM-SHA-256",)
    tls = probe(postgresql.url + "?sslmode=require", cafile=postgresql.cafile)
    assert (tls.target.tls, tls.before_tls) == ("starttls", None)  # no list before TLS
    assert tls.after_tls == ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")


@pytest.mark.parametrize("query", ["", "?sslmode=require"], ids=["plain", "tls"])
def test_probe_logs_in_with_every_offered_mechanism(postgresql: PostgreSQL, query: str) -> None:
    report = probe(
        postgresql.url + query,
        cafile=postgresql.cafile,
        username=postgresql.user,
        password=postgresql.password,
        channel_binding=BINDING,
    )
    assert [(a.mechanism, a.outcome, a.session_refused) for a in report.attempts] == [
        (name, ProbeOutcome.OK, "") for name in report.offered
    ]
    assert len(report.attempts) == (2 if query else 1)


def test_probe_of_a_missing_database_says_so_in_rows_that_stay_ok(
    postgresql: PostgreSQL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "password").write_text(postgresql.password + "\n", encoding="utf-8")
    url = f"postgresql://{HOST}:{postgresql.port}/{MISSING}"
    argv = ["probe", url, "--username", postgresql.user, "--password-file",
            str(tmp_path / "password"), "--json"]  # fmt: skip
    assert main(argv) == 0  # every mechanism tried worked: SASL succeeded
    (attempt,) = json.loads(capsys.readouterr().out)["attempts"]
    assert (attempt["mechanism"], attempt["outcome"]) == ("SCRAM-SHA-256", "ok")
    assert attempt["detail"] == "AuthenticationOk"
    assert attempt["session_refused"] == (
        f'the server refused the session after authentication (3D000 database "{MISSING}" '
        "does not exist)"
    )
    assert main(argv[:-1]) == 0
    assert re.search(r"SCRAM-SHA-256 +yes +ok .*3D000 database", capsys.readouterr().out)


def test_probe_with_a_wrong_password_is_rejected_and_our_responses_verify(
    postgresql: PostgreSQL,
) -> None:
    report = probe(
        postgresql.url + "?sslmode=require",
        cafile=postgresql.cafile,
        username=postgresql.user,
        password="not-her-password",
        channel_binding=BINDING,
    )
    for attempt in report.attempts:
        assert attempt.outcome is ProbeOutcome.REJECTED, attempt
        assert attempt.detail.startswith("28P01")
        assert attempt.verified is not None and attempt.verified.verdict == "correct"


def test_the_probe_command_prints_the_table(
    postgresql: PostgreSQL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "password").write_text(postgresql.password + "\n", encoding="utf-8")
    argv = [
        "probe",
        postgresql.url + "?sslmode=require",
        "--username",
        postgresql.user,
        "--password-file",
        str(tmp_path / "password"),
        "--cafile",
        postgresql.cafile,
        "--channel-binding",
        BINDING,
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{postgresql.url}?sslmode=require (SSLRequest)"
    assert "STARTTLS" not in out
    assert "advertised before TLS: (no list before TLS)" in out
    assert "advertised after TLS:  SCRAM-SHA-256-PLUS SCRAM-SHA-256" in out
    assert re.search(r"SCRAM-SHA-256-PLUS +yes +ok", out)
    assert re.search(r"SCRAM-SHA-256 +yes +ok", out)
    assert postgresql.password not in out


# --- a server with ssl = off ----------------------------------------------------------


def test_sslrequest_answered_with_n_is_starttls_unavailable(
    postgresql_without_tls: PostgreSQL,
) -> None:
    with pytest.raises(StartTLSUnavailable, match=r"answered SSLRequest with N"):
        session(postgresql_without_tls, "starttls")
    opened = session(postgresql_without_tls, "none")  # the same server, without SSLRequest
    try:
        assert opened.mechanisms == ("SCRAM-SHA-256",)
    finally:
        opened.close()


def test_probe_of_a_server_without_tls_suggests_no_tls_and_that_run_logs_in(
    postgresql_without_tls: PostgreSQL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgresql_without_tls.url + "?sslmode=require"
    with pytest.raises(TLSUnavailable):
        probe(url)
    (tmp_path / "password").write_text(postgresql_without_tls.password + "\n", encoding="utf-8")
    argv = ["probe", url, "--username", postgresql_without_tls.user,
            "--password-file", str(tmp_path / "password")]  # fmt: skip
    assert main(argv) == 3
    assert capsys.readouterr().err == (
        f"sasl-kit: error: {HOST} does not offer TLS (it answered SSLRequest with N): "
        "add --no-tls to probe it without TLS (and --allow-plaintext to try PLAIN and "
        "LOGIN in the clear)\n"
    )
    assert main([*argv, "--no-tls"]) == 0  # what the hint says to do
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{postgresql_without_tls.url} (no TLS)"
    assert re.search(r"SCRAM-SHA-256 +yes +ok", out)
