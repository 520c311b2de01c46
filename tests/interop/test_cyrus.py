"""Cyrus SASL's sample server and client against sasl-kit, both directions.

The sample programs check a private sasldb (see ``conftest.cyrus``). Each run
ends with the programs' security-layer exchange; with qop=auth there is no
layer, so it proves both sides agree on that. The server reports the user as
``user@REALM``, the client as the name it authenticated with.
"""

from __future__ import annotations

import pytest

from sasl_kit import AuthenticationFailed
from tests.interop.peers import (
    ALICE,
    ANNA,
    JURGEN,
    SITE,
    Account,
    CyrusConfig,
    run_cyrus_client,
    run_cyrus_server,
)

pytestmark = pytest.mark.interop

MECHANISMS = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "DIGEST-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
)
ACCOUNTS = [
    pytest.param(ALICE, id="ascii"),
    pytest.param(ANNA, id="latin1-password"),
    pytest.param(JURGEN, id="latin1-user"),
]
WRONG_PASSWORD = "not-the-password"


@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kit_client_authenticates_to_cyrus_server(
    mechanism: str, account: Account, cyrus: CyrusConfig
) -> None:
    client = SITE.kit_client(mechanism, account)
    outcome = run_cyrus_server(mechanism, client, config=cyrus)
    assert outcome.kit_error is None, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert outcome.peer_user == f"{account.user}@{SITE.realm}", str(outcome)
    assert client.complete, str(outcome)


def test_kit_digest_client_checks_rspauth_sent_as_success_data(cyrus: CyrusConfig) -> None:
    client = SITE.kit_client("DIGEST-MD5", ALICE)
    outcome = run_cyrus_server("DIGEST-MD5", client, config=cyrus, server_last=True)
    assert outcome.kit_error is None, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert client.complete, str(outcome)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_cyrus_server_rejects_kit_client_with_wrong_password(
    mechanism: str, cyrus: CyrusConfig
) -> None:
    client = SITE.kit_client(mechanism, ALICE, password=WRONG_PASSWORD)
    outcome = run_cyrus_server(mechanism, client, config=cyrus)
    assert not outcome.peer_ok, str(outcome)
    assert outcome.returncode != 0, str(outcome)
    assert "authentication failure" in outcome.stderr, str(outcome)
    assert outcome.kit_error is None, str(outcome)


def test_kit_digest_client_stays_incomplete_without_the_servers_proof(cyrus: CyrusConfig) -> None:
    client = SITE.kit_client("DIGEST-MD5", ALICE, password=WRONG_PASSWORD)
    outcome = run_cyrus_server("DIGEST-MD5", client, config=cyrus)
    assert not outcome.peer_ok, str(outcome)
    assert not client.complete, str(outcome)


@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_cyrus_client_authenticates_to_kit_server(
    mechanism: str, account: Account, cyrus: CyrusConfig
) -> None:
    server = SITE.kit_server(mechanism)
    outcome = run_cyrus_client(mechanism, server, config=cyrus, account=account)
    assert outcome.kit_error is None, str(outcome)
    assert server.complete, str(outcome)
    assert server.authcid == account.user, str(outcome)
    assert server.authzid == account.user, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert outcome.peer_user == account.user, str(outcome)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kit_server_rejects_cyrus_client_with_wrong_password(
    mechanism: str, cyrus: CyrusConfig
) -> None:
    server = SITE.kit_server(mechanism)
    outcome = run_cyrus_client(
        mechanism, server, config=cyrus, account=ALICE, password=WRONG_PASSWORD
    )
    assert isinstance(outcome.kit_error, AuthenticationFailed), str(outcome)
    assert not server.complete, str(outcome)
    assert server.authcid is None, str(outcome)
    assert not outcome.peer_ok, str(outcome)


@pytest.mark.parametrize("mechanism", ["PLAIN", "DIGEST-MD5"])
def test_kit_server_takes_the_authzid_a_cyrus_client_asks_for(
    mechanism: str, cyrus: CyrusConfig
) -> None:
    server = SITE.kit_server(mechanism, authorize=lambda authcid, authzid: authzid == "bob")
    outcome = run_cyrus_client(mechanism, server, config=cyrus, account=ALICE, authzid="bob")
    assert outcome.kit_error is None, str(outcome)
    assert (server.authcid, server.authzid) == ("alice", "bob"), str(outcome)
    assert outcome.peer_ok, str(outcome)


@pytest.mark.parametrize("mechanism", ["PLAIN", "DIGEST-MD5"])
def test_cyrus_server_accepts_kit_client_authzid_equal_to_its_authcid(
    mechanism: str, cyrus: CyrusConfig
) -> None:
    client = SITE.kit_client(mechanism, ALICE, authzid=ALICE.user)
    outcome = run_cyrus_server(mechanism, client, config=cyrus)
    assert outcome.kit_error is None, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert outcome.peer_user == f"{ALICE.user}@{SITE.realm}", str(outcome)


@pytest.mark.parametrize("mechanism", ["PLAIN", "DIGEST-MD5"])
def test_cyrus_server_refuses_kit_client_authzid_for_another_user(
    mechanism: str, cyrus: CyrusConfig
) -> None:
    client = SITE.kit_client(mechanism, ALICE, authzid="bob")
    outcome = run_cyrus_server(mechanism, client, config=cyrus)
    assert not outcome.peer_ok, str(outcome)
    # Cyrus's default policy: the password was right, the identity switch is not allowed.
    assert "Requested identity not authenticated identity" in outcome.stderr, str(outcome)
