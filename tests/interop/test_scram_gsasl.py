"""GNU SASL (``gsasl``) against sasl-kit's SCRAM, both directions, with and without binding.

The -PLUS runs use no TLS: GNU SASL run without ``--hostname`` asks for the
binding data on stdout ("Enter base64 encoded tls-exporter channel binding: ",
no newline; the client asks for tls-exporter, then tls-unique when that answer
is empty) and reads it from stdin, so both sides get the same made-up bytes.
The non-PLUS runs go through the shared harness in ``peers.py``.

GNU SASL 2.2.0's client cannot send the "y" flag: given binding data for a
non-PLUS mechanism it stops with "Error authenticating user". Its server does
take "y", and refuses it when it has binding data, so the "y" runs here are
sasl-kit's client against GNU SASL's server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sasl_kit import (
    AuthenticationFailed,
    ClientMechanism,
    PolicyRefused,
    SASLError,
    ServerMechanism,
)
from sasl_kit.channel_binding import ChannelBinding
from tests.interop.peers import (
    ALICE,
    GSASL_CLIENT_DONE,
    GSASL_SERVER_DONE,
    JURGEN,
    SITE,
    Account,
    Outcome,
    Peer,
    _gsasl_argv,
    decode,
    encode,
    peer_env,
    run_gsasl_client,
    run_gsasl_server,
)

pytestmark = pytest.mark.interop

MECHANISMS = ("SCRAM-SHA-1", "SCRAM-SHA-256")  # GNU SASL 2.2.0 has no SCRAM-SHA-512
PLUS_MECHANISMS = tuple(f"{m}-PLUS" for m in MECHANISMS)
EXPORTER = ChannelBinding("tls-exporter", bytes(range(32)))
UNIQUE = ChannelBinding("tls-unique", bytes(range(100, 112)))
BINDING_PROMPT = re.compile(r"Enter base64 encoded tls-[a-z-]+ channel binding: ")


def _unbound_argv(role: str, mechanism: str, account: Account) -> list[str]:
    """The harness's command line without ``--hostname``, so that gsasl asks for binding data."""
    argv = _gsasl_argv(role, mechanism, site=SITE, user=account.user, password=account.password)
    return [arg for arg in argv if not arg.startswith("--hostname=")]


def _answers(binding: ChannelBinding) -> list[str]:
    """What the gsasl client reads for its prompts: tls-exporter first, then tls-unique."""
    if binding.type == "tls-exporter":
        return [encode(binding.data)]
    return ["", encode(binding.data)]


def run_gsasl_client_binding(
    mechanism: str, server: ServerMechanism, binding: ChannelBinding, workdir: Path
) -> Outcome:
    """``gsasl --client`` as ALICE, told ``binding``, against a sasl-kit server."""
    outcome = Outcome()
    argv = _unbound_argv("client", mechanism, ALICE)
    with Peer(argv, env=peer_env(workdir), cwd=workdir, outcome=outcome) as peer:
        assert peer.next_line() == mechanism, outcome
        for answer in _answers(binding):  # the prompts end in no newline: answer them first
            peer.send(answer)
        try:
            line = peer.next_line()
            while line is not None and not server.complete:
                peer.send(encode(server.step(decode(BINDING_PROMPT.sub("", line), outcome))))
                line = peer.next_line(stop_on_stderr=GSASL_CLIENT_DONE)
            while line is not None:  # the line the client reads after its last step
                peer.send("")
                line = peer.next_line(stop_on_stderr=GSASL_CLIENT_DONE)
        except SASLError as exc:
            outcome.kit_error = exc
        outcome.peer_ok = peer.close() == 0 and GSASL_CLIENT_DONE in peer.stderr
    return outcome


def run_gsasl_server_binding(
    mechanism: str, client: ClientMechanism, binding: ChannelBinding, workdir: Path
) -> Outcome:
    """``gsasl --server`` knowing ALICE's password, told ``binding``, against a sasl-kit client."""
    outcome = Outcome()
    argv = _unbound_argv("server", mechanism, ALICE)
    with Peer(argv, env=peer_env(workdir), cwd=workdir, outcome=outcome) as peer:
        assert peer.next_line() == mechanism, outcome
        try:
            line = peer.next_line()  # empty: send the initial response
            peer.send(encode(client.step(b"")))
            peer.send(encode(binding.data))  # its prompt follows the client-first message
            while (line := peer.next_line(stop_on_stderr=GSASL_SERVER_DONE)) is not None:
                data = decode(BINDING_PROMPT.sub("", line), outcome)
                peer.send(encode(client.step(data)) if not client.complete else "")
        except SASLError as exc:
            outcome.kit_error = exc
        outcome.peer_ok = peer.close() == 0 and GSASL_SERVER_DONE in peer.stderr
    return outcome


# --- Without channel binding ------------------------------------------------------------


@pytest.mark.parametrize("account", [ALICE, JURGEN], ids=["ascii", "non-ascii"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kit_client_authenticates_to_gsasl_server(
    mechanism: str, account: Account, gsasl: Path
) -> None:
    client = SITE.kit_client(mechanism, account)
    outcome = run_gsasl_server(
        mechanism, client, site=SITE, password=account.password, workdir=gsasl
    )
    assert outcome.kit_error is None, outcome
    assert client.complete and outcome.peer_ok, outcome


@pytest.mark.parametrize("account", [ALICE, JURGEN], ids=["ascii", "non-ascii"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_gsasl_client_authenticates_to_kit_server(
    mechanism: str, account: Account, gsasl: Path
) -> None:
    server = SITE.kit_server(mechanism)
    outcome = run_gsasl_client(mechanism, server, site=SITE, account=account, workdir=gsasl)
    assert outcome.kit_error is None, outcome
    assert (server.authcid, server.authzid) == (account.user, account.user), outcome
    assert outcome.peer_ok, outcome


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_gsasl_server_rejects_kit_client_with_wrong_password(mechanism: str, gsasl: Path) -> None:
    client = SITE.kit_client(mechanism, ALICE, password="not-the-password")
    outcome = run_gsasl_server(mechanism, client, site=SITE, password=ALICE.password, workdir=gsasl)
    assert not outcome.peer_ok and not client.complete, outcome
    assert "mechanism error" in outcome.stderr, outcome


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kit_server_rejects_gsasl_client_with_wrong_password(mechanism: str, gsasl: Path) -> None:
    server = SITE.kit_server(mechanism)
    outcome = run_gsasl_client(
        mechanism, server, site=SITE, account=ALICE, password="not-the-password", workdir=gsasl
    )
    assert isinstance(outcome.kit_error, AuthenticationFailed), outcome
    assert server.authcid is None and not outcome.peer_ok, outcome


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kit_server_takes_a_gsasl_clients_authzid(mechanism: str, gsasl: Path) -> None:
    server = SITE.kit_server(mechanism, authorize=lambda authcid, authzid: authzid == "b,o=b")
    outcome = run_gsasl_client(
        mechanism, server, site=SITE, account=ALICE, authzid="b,o=b", workdir=gsasl
    )
    assert outcome.kit_error is None, outcome
    assert (server.authcid, server.authzid) == ("alice", "b,o=b"), outcome
    assert outcome.peer_ok, outcome


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_gsasl_server_accepts_kit_client_sending_an_authzid(mechanism: str, gsasl: Path) -> None:
    client = SITE.kit_client(mechanism, ALICE, authzid="bob")
    outcome = run_gsasl_server(mechanism, client, site=SITE, password=ALICE.password, workdir=gsasl)
    assert outcome.kit_error is None, outcome
    assert client.complete and outcome.peer_ok, outcome


def test_kit_client_refuses_gsasl_iterations_below_its_minimum(gsasl: Path) -> None:
    # GNU SASL's server derives its keys with 4096 iterations.
    client = SITE.kit_client("SCRAM-SHA-256", ALICE, min_iterations=10_000)
    outcome = run_gsasl_server(
        "SCRAM-SHA-256", client, site=SITE, password=ALICE.password, workdir=gsasl
    )
    assert isinstance(outcome.kit_error, PolicyRefused), outcome
    assert "4096 iterations" in str(outcome.kit_error), outcome


# --- With channel binding ---------------------------------------------------------------


@pytest.mark.parametrize("binding", [EXPORTER, UNIQUE], ids=lambda b: b.type)
@pytest.mark.parametrize("mechanism", PLUS_MECHANISMS)
def test_kit_plus_client_binds_to_gsasl_server(
    mechanism: str, binding: ChannelBinding, gsasl: Path
) -> None:
    client = SITE.kit_client(mechanism, ALICE, channel_binding=binding)
    outcome = run_gsasl_server_binding(mechanism, client, binding, gsasl)
    assert outcome.kit_error is None, outcome
    assert client.complete and outcome.peer_ok, outcome


@pytest.mark.parametrize("binding", [EXPORTER, UNIQUE], ids=lambda b: b.type)
@pytest.mark.parametrize("mechanism", PLUS_MECHANISMS)
def test_gsasl_plus_client_binds_to_kit_server(
    mechanism: str, binding: ChannelBinding, gsasl: Path
) -> None:
    server = SITE.kit_server(mechanism, channel_binding=binding)
    outcome = run_gsasl_client_binding(mechanism, server, binding, gsasl)
    assert outcome.kit_error is None, outcome
    assert server.authcid == "alice" and outcome.peer_ok, outcome


def test_gsasl_server_refuses_kit_client_bound_to_another_channel(gsasl: Path) -> None:
    client = SITE.kit_client("SCRAM-SHA-256-PLUS", ALICE, channel_binding=EXPORTER)
    other = ChannelBinding("tls-exporter", bytes(32))
    outcome = run_gsasl_server_binding("SCRAM-SHA-256-PLUS", client, other, gsasl)
    assert not outcome.peer_ok and not client.complete, outcome


def test_kit_server_refuses_gsasl_client_bound_to_another_channel(gsasl: Path) -> None:
    server = SITE.kit_server("SCRAM-SHA-256-PLUS", channel_binding=EXPORTER)
    other = ChannelBinding("tls-exporter", bytes(32))
    outcome = run_gsasl_client_binding("SCRAM-SHA-256-PLUS", server, other, gsasl)
    assert isinstance(outcome.kit_error, AuthenticationFailed), outcome
    assert "does not match" in str(outcome.kit_error), outcome
    assert server.authcid is None and not outcome.peer_ok, outcome


def test_gsasl_server_without_binding_accepts_kit_clients_y_flag(gsasl: Path) -> None:
    # The kit client has binding data but was told the server offers no -PLUS: it sends "y".
    client = SITE.kit_client("SCRAM-SHA-256", ALICE, channel_binding=UNIQUE)
    outcome = run_gsasl_server(
        "SCRAM-SHA-256", client, site=SITE, password=ALICE.password, workdir=gsasl
    )
    assert f"kit | {encode(b'y,,')[:4]}" in "\n".join(outcome.transcript), outcome
    assert outcome.kit_error is None, outcome
    assert client.complete and outcome.peer_ok, outcome


def test_gsasl_server_with_binding_refuses_kit_clients_y_flag(gsasl: Path) -> None:
    # GNU SASL asks for binding data on "y"; having some, it takes "y" for a downgrade.
    client = SITE.kit_client("SCRAM-SHA-256", ALICE, channel_binding=UNIQUE)
    outcome = run_gsasl_server_binding("SCRAM-SHA-256", client, EXPORTER, gsasl)
    assert outcome.kit_error is None, outcome
    assert not outcome.peer_ok and not client.complete, outcome
    assert "mechanism error" in outcome.stderr, outcome
