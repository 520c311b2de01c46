"""GNU SASL (``gsasl``) against sasl-kit, both directions.

GNU SASL's server accepts any user name with the right password and never says
which user it accepted, so against it only the sasl-kit side can show the
authcid. GNU SASL 2.2.0 hashes a DIGEST-MD5 user name as UTF-8 where RFC 2831
2.1.2.1 (and Cyrus SASL) convert it to ISO 8859-1 first; those cases are
expected failures until GNU SASL changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sasl_kit import AuthenticationFailed
from tests.interop.peers import (
    ALICE,
    ANNA,
    JURGEN,
    SITE,
    Account,
    run_gsasl_client,
    run_gsasl_server,
)

pytestmark = pytest.mark.interop

MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5")
WRONG_PASSWORD = "not-the-password"
GSASL_LATIN1_USER = pytest.mark.xfail(
    strict=True,
    reason="GNU SASL 2.2.0 hashes a non-ASCII DIGEST-MD5 user name as UTF-8, "
    "not ISO 8859-1 as RFC 2831 2.1.2.1 requires (Cyrus SASL does convert)",
)


def _cases() -> list[object]:
    accounts = {"ascii": ALICE, "latin1-password": ANNA, "latin1-user": JURGEN}
    return [
        pytest.param(
            mechanism,
            account,
            id=f"{mechanism}-{label}",
            marks=[GSASL_LATIN1_USER] if (mechanism, account) == ("DIGEST-MD5", JURGEN) else [],
        )
        for mechanism in MECHANISMS
        for label, account in accounts.items()
    ]


@pytest.mark.parametrize(("mechanism", "account"), _cases())
def test_kit_client_authenticates_to_gsasl_server(
    mechanism: str, account: Account, gsasl: Path
) -> None:
    client = SITE.kit_client(mechanism, account)
    outcome = run_gsasl_server(
        mechanism, client, site=SITE, password=account.password, workdir=gsasl
    )
    assert outcome.kit_error is None, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert client.complete, str(outcome)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_gsasl_server_rejects_kit_client_with_wrong_password(mechanism: str, gsasl: Path) -> None:
    client = SITE.kit_client(mechanism, ALICE, password=WRONG_PASSWORD)
    outcome = run_gsasl_server(mechanism, client, site=SITE, password=ALICE.password, workdir=gsasl)
    assert not outcome.peer_ok, str(outcome)
    assert outcome.returncode != 0, str(outcome)
    assert "mechanism error" in outcome.stderr, str(outcome)
    assert outcome.kit_error is None, str(outcome)


def test_kit_digest_client_stays_incomplete_without_the_servers_proof(gsasl: Path) -> None:
    client = SITE.kit_client("DIGEST-MD5", ALICE, password=WRONG_PASSWORD)
    outcome = run_gsasl_server(
        "DIGEST-MD5", client, site=SITE, password=ALICE.password, workdir=gsasl
    )
    assert not outcome.peer_ok, str(outcome)
    assert not client.complete, str(outcome)


@pytest.mark.parametrize(("mechanism", "account"), _cases())
def test_gsasl_client_authenticates_to_kit_server(
    mechanism: str, account: Account, gsasl: Path
) -> None:
    server = SITE.kit_server(mechanism)
    outcome = run_gsasl_client(mechanism, server, site=SITE, account=account, workdir=gsasl)
    assert outcome.kit_error is None, str(outcome)
    assert server.complete, str(outcome)
    assert server.authcid == account.user, str(outcome)
    assert server.authzid == account.user, str(outcome)
    assert outcome.peer_ok, str(outcome)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kit_server_rejects_gsasl_client_with_wrong_password(mechanism: str, gsasl: Path) -> None:
    server = SITE.kit_server(mechanism)
    outcome = run_gsasl_client(
        mechanism, server, site=SITE, account=ALICE, password=WRONG_PASSWORD, workdir=gsasl
    )
    assert isinstance(outcome.kit_error, AuthenticationFailed), str(outcome)
    assert not server.complete, str(outcome)
    assert server.authcid is None, str(outcome)
    assert not outcome.peer_ok, str(outcome)


@pytest.mark.parametrize("mechanism", ["PLAIN", "DIGEST-MD5"])
def test_kit_server_takes_the_authzid_a_gsasl_client_asks_for(mechanism: str, gsasl: Path) -> None:
    server = SITE.kit_server(mechanism, authorize=lambda authcid, authzid: authzid == "bob")
    outcome = run_gsasl_client(
        mechanism, server, site=SITE, account=ALICE, authzid="bob", workdir=gsasl
    )
    assert outcome.kit_error is None, str(outcome)
    assert (server.authcid, server.authzid) == ("alice", "bob"), str(outcome)
    assert outcome.peer_ok, str(outcome)


@pytest.mark.parametrize("mechanism", ["PLAIN", "DIGEST-MD5"])
def test_kit_server_refuses_a_gsasl_authzid_its_policy_forbids(mechanism: str, gsasl: Path) -> None:
    server = SITE.kit_server(mechanism)
    outcome = run_gsasl_client(
        mechanism, server, site=SITE, account=ALICE, authzid="bob", workdir=gsasl
    )
    assert isinstance(outcome.kit_error, AuthenticationFailed), str(outcome)
    assert not server.complete, str(outcome)
    assert not outcome.peer_ok, str(outcome)


@pytest.mark.parametrize("mechanism", ["PLAIN", "DIGEST-MD5"])
def test_gsasl_server_accepts_kit_client_sending_an_authzid(mechanism: str, gsasl: Path) -> None:
    client = SITE.kit_client(mechanism, ALICE, authzid="bob")
    outcome = run_gsasl_server(mechanism, client, site=SITE, password=ALICE.password, workdir=gsasl)
    assert outcome.kit_error is None, str(outcome)
    assert outcome.peer_ok, str(outcome)
    assert client.complete, str(outcome)
