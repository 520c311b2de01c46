"""NTLM against Cyrus SASL, GNU SASL and pyspnego, both directions where the peer has both.

What the peers speak (Debian 12): Cyrus's server verifies NTLMv2 with
``ntlm_v2: yes`` in its config; its challenge has no TargetInfo, so no MIC. The
Cyrus sample client and GNU SASL's client (libntlm) send NTLMv1 only, so our
server takes them only with ``allow_ntlmv1=True`` and refuses them by default.
Cyrus and libntlm turn names and passwords into "Unicode" by widening bytes,
which is right for ASCII only: they run with the ASCII account. pyspnego (pure
Python, MS-NLMP) speaks NTLMv2 with MsvAvTimestamp and MIC both ways, with any
Unicode name. GNU SASL has no NTLM server.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from sasl_kit import AuthenticationFailed, PolicyRefused
from tests.interop.conftest import in_ci, require_programs
from tests.interop.peers import (
    ALICE,
    CYRUS_CLIENT,
    CYRUS_SERVER,
    JURGEN,
    SASLPASSWD2,
    SITE,
    STDBUF,
    Account,
    CyrusConfig,
    make_cyrus_config,
    run_cyrus_client,
    run_cyrus_server,
    run_gsasl_client,
)

pytestmark = pytest.mark.interop

WRONG_PASSWORD = "not-the-password"


def _cyrus(directory: Path, *, ntlm_v2: bool) -> CyrusConfig:
    require_programs(CYRUS_SERVER, CYRUS_CLIENT, SASLPASSWD2, STDBUF)
    config = make_cyrus_config(directory, SITE, ("NTLM",))
    if ntlm_v2:
        with (directory / "sample.conf").open("a", encoding="utf-8") as conf:
            conf.write("ntlm_v2: yes\n")
    return config


@pytest.fixture(scope="module")
def cyrus_v2(tmp_path_factory: pytest.TempPathFactory) -> CyrusConfig:
    return _cyrus(tmp_path_factory.mktemp("cyrus-ntlm-v2"), ntlm_v2=True)


@pytest.fixture(scope="module")
def cyrus_v1(tmp_path_factory: pytest.TempPathFactory) -> CyrusConfig:
    return _cyrus(tmp_path_factory.mktemp("cyrus-ntlm-v1"), ntlm_v2=False)


@pytest.fixture
def spnego() -> ModuleType:
    """pyspnego (the ``test`` extra): skipped when missing, a failure in CI."""
    try:
        return importlib.import_module("spnego")
    except ImportError:
        if in_ci():
            pytest.fail("pyspnego is not installed; CI is set, so this is a failure")
        pytest.skip("pyspnego is not installed (pip install -e '.[test]')")


# --- Cyrus SASL ------------------------------------------------------------------------


def test_kit_client_authenticates_to_cyrus_server_with_ntlmv2(cyrus_v2: CyrusConfig) -> None:
    client = SITE.kit_client("NTLM", ALICE)
    outcome = run_cyrus_server("NTLM", client, config=cyrus_v2)
    assert outcome.kit_error is None, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert outcome.peer_user == f"{ALICE.user}@{SITE.realm}", str(outcome)
    assert client.complete, str(outcome)


def test_cyrus_server_rejects_kit_client_with_wrong_password(cyrus_v2: CyrusConfig) -> None:
    client = SITE.kit_client("NTLM", ALICE, password=WRONG_PASSWORD)
    outcome = run_cyrus_server("NTLM", client, config=cyrus_v2)
    assert not outcome.peer_ok, str(outcome)
    assert "authentication failure" in outcome.stderr, str(outcome)


def test_kit_client_allowed_ntlmv1_authenticates_to_cyrus_server(cyrus_v1: CyrusConfig) -> None:
    # Cyrus's challenge has no TargetInfo: a client that allows NTLMv1 answers with it.
    client = SITE.kit_client("NTLM", ALICE, allow_ntlmv1=True)
    outcome = run_cyrus_server("NTLM", client, config=cyrus_v1)
    assert outcome.kit_error is None, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert outcome.peer_user == f"{ALICE.user}@{SITE.realm}", str(outcome)


def test_cyrus_client_authenticates_to_kit_server_allowing_ntlmv1(cyrus_v2: CyrusConfig) -> None:
    server = SITE.kit_server("NTLM", allow_ntlmv1=True)
    outcome = run_cyrus_client("NTLM", server, config=cyrus_v2, account=ALICE)
    assert outcome.kit_error is None, str(outcome)
    assert server.complete and server.authcid == ALICE.user, str(outcome)
    assert outcome.peer_ok, str(outcome)


def test_kit_server_refuses_cyrus_ntlmv1_by_default(cyrus_v2: CyrusConfig) -> None:
    server = SITE.kit_server("NTLM")
    outcome = run_cyrus_client("NTLM", server, config=cyrus_v2, account=ALICE)
    assert isinstance(outcome.kit_error, PolicyRefused), str(outcome)
    assert not server.complete and not outcome.peer_ok, str(outcome)


def test_kit_server_rejects_cyrus_client_with_wrong_password(cyrus_v2: CyrusConfig) -> None:
    server = SITE.kit_server("NTLM", allow_ntlmv1=True)
    outcome = run_cyrus_client(
        "NTLM", server, config=cyrus_v2, account=ALICE, password=WRONG_PASSWORD
    )
    assert isinstance(outcome.kit_error, AuthenticationFailed), str(outcome)
    assert server.authcid is None and not outcome.peer_ok, str(outcome)


# --- GNU SASL (client only) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "allowed"), [(None, True), (WRONG_PASSWORD, True), (None, False)]
)
def test_gsasl_client_against_kit_server(password: str | None, allowed: bool, gsasl: Path) -> None:
    server = SITE.kit_server("NTLM", allow_ntlmv1=allowed)
    outcome = run_gsasl_client(
        "NTLM", server, site=SITE, account=ALICE, password=password, workdir=gsasl
    )
    if not allowed:
        assert isinstance(outcome.kit_error, PolicyRefused), str(outcome)
    elif password is None:
        assert outcome.kit_error is None, str(outcome)
        assert server.authcid == ALICE.user, str(outcome)
        assert outcome.peer_ok, str(outcome)
        return
    else:
        assert isinstance(outcome.kit_error, AuthenticationFailed), str(outcome)
    assert not server.complete and not outcome.peer_ok, str(outcome)


# --- pyspnego -----------------------------------------------------------------------------


ACCOUNTS = [pytest.param(ALICE, id="ascii"), pytest.param(JURGEN, id="latin1-user")]


@pytest.mark.parametrize("account", ACCOUNTS)
def test_pyspnego_client_authenticates_to_kit_server(account: Account, spnego: ModuleType) -> None:
    user = account.user
    peer = spnego.client(f"{SITE.realm}\\{user}", account.password, protocol="ntlm")
    server = SITE.kit_server("NTLM")
    assert server.step(None) == b""
    challenge = server.step(peer.step())
    assert server.step(peer.step(challenge)) is None
    assert peer.complete
    assert (server.complete, server.authcid, server.domain) == (True, user, SITE.realm)


def test_kit_server_rejects_pyspnego_client_with_wrong_password(spnego: ModuleType) -> None:
    peer = spnego.client(ALICE.user, WRONG_PASSWORD, protocol="ntlm")
    server = SITE.kit_server("NTLM")
    server.step(None)
    challenge = server.step(peer.step())
    with pytest.raises(AuthenticationFailed):
        server.step(peer.step(challenge))
    assert server.authcid is None


@pytest.fixture
def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyspnego's acceptor reads its accounts from NTLM_USER_FILE (DOMAIN:USER:PASSWORD)."""
    path = tmp_path / "ntlm-users"
    lines = [f"{SITE.realm}:{a.user}:{a.password}" for a in (ALICE, JURGEN)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(path))


@pytest.mark.parametrize("account", ACCOUNTS)
def test_kit_client_authenticates_to_pyspnego_server_with_mic(
    account: Account, spnego: ModuleType, user_file: None
) -> None:
    user = account.user
    peer = spnego.server(protocol="ntlm")
    client = SITE.kit_client("NTLM", account, domain=SITE.realm)
    challenge = peer.step(client.step(b""))
    authenticate = client.step(challenge)
    assert authenticate is not None and authenticate[72:88] != bytes(16)  # MIC sent
    assert peer.step(authenticate) is None
    assert peer.complete and client.complete
    assert peer.client_principal == f"{SITE.realm}\\{user}"


def test_pyspnego_server_rejects_kit_client_with_wrong_password(
    spnego: ModuleType, user_file: None
) -> None:
    peer = spnego.server(protocol="ntlm")
    client = SITE.kit_client("NTLM", ALICE, password=WRONG_PASSWORD, domain=SITE.realm)
    challenge = peer.step(client.step(b""))
    with pytest.raises(spnego.exceptions.SpnegoError):
        peer.step(client.step(challenge))
    assert not peer.complete
