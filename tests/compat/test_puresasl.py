"""The pure-sasl drop-in: pure-sasl 0.6's API, sasl-kit's mechanisms behind it.

Where pure-sasl itself can answer the same question (its PLAIN and CRAM-MD5
bytes, its choice among mechanisms, its errors) the test asks the real
pure-sasl 0.6 (installed by the test extra) and compares; what pure-sasl cannot
do (SCRAM, DIGEST-MD5 auth-int/auth-conf) is checked against sasl-kit's servers.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import puresasl as real
import puresasl.client as real_client
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit.compat import puresasl as kit
from sasl_kit.compat.puresasl.client import SASLClient
from sasl_kit.vectors import iter_vectors

USERS = {"alice": "wonderland"}


def run_against_server(client: Any, server: sasl_kit.ServerMechanism) -> None:
    """kazoo's loop: ``process(None)`` first, then every challenge until ``complete``."""
    challenge = None
    while True:
        response = client.process(challenge)
        if client.complete and not response:
            break
        challenge = server.step(response)  # None first for a server-first mechanism
        if server.complete and challenge is None:
            break
    assert server.complete and client.complete


def test_public_names_and_signatures_are_pure_sasls() -> None:
    for name in ("SASLError", "SASLProtocolException", "SASLWarning", "QOP", "__version__"):
        assert hasattr(kit, name), name
    assert kit.QOP.all == real.QOP.all and kit.QOP.bit_map == real.QOP.bit_map
    ours = inspect.signature(SASLClient.__init__).parameters
    theirs = inspect.signature(real_client.SASLClient.__init__).parameters
    assert list(ours) == list(theirs)
    for method in ("process", "wrap", "unwrap", "dispose", "choose_mechanism"):
        assert list(inspect.signature(getattr(SASLClient, method)).parameters) == list(
            inspect.signature(getattr(real_client.SASLClient, method)).parameters
        ), method


def test_errors_are_also_sasl_kit_errors() -> None:
    assert issubclass(kit.SASLError, sasl_kit.SASLError)
    assert issubclass(kit.SASLProtocolException, sasl_kit.SASLError)


@pytest.mark.parametrize(
    ("props", "authorization_id"),
    [
        ({"username": "tim", "password": "tanstaaftanstaaf"}, None),
        ({"username": "tim", "password": "tanstaaftanstaaf"}, "admin"),
        ({"username": "tim", "password": "tanstaaftanstaaf", "identity": "other"}, None),
    ],
)
def test_plain_sends_what_pure_sasl_sends(
    props: dict[str, str], authorization_id: str | None
) -> None:
    ours = SASLClient("h", "imap", "PLAIN", authorization_id=authorization_id, **props)
    theirs = real_client.SASLClient(
        "h", "imap", "PLAIN", authorization_id=authorization_id, **props
    )
    assert ours.process(None) == theirs.process(None)
    assert ours.complete and theirs.complete


def test_cram_md5_answers_rfc_2195_as_pure_sasl_does() -> None:
    ((_, vector),) = [v for v in iter_vectors("exchange") if v[1]["id"] == "rfc2195-section-2"]
    challenge = vector["exchange"][0]["text"].encode()
    ours = SASLClient("h", "imap", "CRAM-MD5", **vector["client"])
    theirs = real_client.SASLClient("h", "imap", "CRAM-MD5", **vector["client"])
    assert ours.process(None) is None and theirs.process(None) is None
    assert (
        ours.process(challenge)
        == theirs.process(challenge)
        == vector["exchange"][1]["text"].encode()
    )


@pytest.mark.parametrize("qops", [None, [b"auth"], [b"auth-int"], ["auth-conf"], kit.QOP.all])
def test_digest_md5_authenticates_and_protects_as_negotiated(qops: Any) -> None:
    server = sasl_kit.server(
        "DIGEST-MD5",
        USERS,
        service="zookeeper",
        host="zk-sasl-md5",
        qops=("auth", "auth-int", "auth-conf"),
    )
    kwargs = {} if qops is None else {"qops": qops}
    client = SASLClient(
        "zk-sasl-md5", "zookeeper", "DIGEST-MD5", username="alice", password="wonderland", **kwargs
    )
    run_against_server(client, server)
    expected = {
        None: b"auth",
        (b"auth",): b"auth",
        (b"auth-int",): b"auth-int",
        ("auth-conf",): b"auth-conf",
    }
    want = expected.get(None if qops is None else tuple(qops), b"auth-conf")
    assert client.qop == want
    if want == b"auth":
        assert client.wrap(b"data") == b"data" and client.unwrap(b"data") == b"data"
        return
    assert server.security_layer is not None
    wrapped = client.wrap(b"to the server")
    assert wrapped != b"to the server"
    assert server.security_layer.unwrap(wrapped) == b"to the server"
    assert client.unwrap(server.security_layer.wrap(b"to the client")) == b"to the client"
    with pytest.raises(kit.SASLProtocolException):
        client.unwrap(b"\x00" * 16 + wrapped)


def test_scram_which_pure_sasl_lacks_works_through_the_same_api() -> None:
    client = SASLClient("h", "imap", username="alice", password="wonderland")
    client.choose_mechanism(["PLAIN", "SCRAM-SHA-256", "CRAM-MD5"])
    assert client.mechanism == "SCRAM-SHA-256"
    run_against_server(client, sasl_kit.server("SCRAM-SHA-256", USERS))


def test_a_wrong_server_proof_is_a_protocol_exception() -> None:
    client = SASLClient("h", "imap", "DIGEST-MD5", username="alice", password="wonderland")
    server = sasl_kit.server("DIGEST-MD5", USERS, service="imap", host="h")
    assert client.process(None) is None
    client.process(server.step(None))
    with pytest.raises(kit.SASLProtocolException):
        client.process(b"rspauth=00000000000000000000000000000000")
    assert not client.complete


@pytest.mark.parametrize(
    ("flags", "offered"),
    [
        ({}, ["PLAIN", "CRAM-MD5", "DIGEST-MD5", "ANONYMOUS"]),
        ({"allow_plaintext": False}, ["PLAIN", "ANONYMOUS"]),
        ({"allow_anonymous": False}, ["ANONYMOUS", "PLAIN"]),
        ({"allow_anonymous": False, "allow_plaintext": False}, ["ANONYMOUS", "PLAIN", "CRAM-MD5"]),
    ],
)
def test_choose_mechanism_picks_as_pure_sasl_does(
    flags: dict[str, bool], offered: list[str]
) -> None:
    ours = SASLClient("h", "imap", username="u", password="p")
    theirs = real_client.SASLClient("h", "imap", username="u", password="p")
    ours.choose_mechanism(offered, **flags)
    theirs.choose_mechanism(offered, **flags)
    assert ours.mechanism == theirs.mechanism


def test_choose_mechanism_with_nothing_left_raises_as_pure_sasl_does() -> None:
    for client, error in (
        (SASLClient("h"), kit.SASLError),
        (real_client.SASLClient("h"), real.SASLError),
    ):
        with pytest.raises(error, match="None of the mechanisms"):
            client.choose_mechanism(["PLAIN"], allow_plaintext=False)


def test_without_a_mechanism_every_call_is_a_sasl_error() -> None:
    client = SASLClient("h", "imap")
    for call in (
        lambda: client.process(None),
        lambda: client.complete,
        client.dispose,
        lambda: client.qop,
    ):
        with pytest.raises(kit.SASLError, match="not been chosen"):
            call()
    with pytest.raises(kit.SASLError, match="Unknown mechanism GSSAPI"):
        SASLClient("h", "imap", "GSSAPI")


def test_missing_properties_come_from_the_callback_or_are_an_error() -> None:
    asked: list[str] = []

    def callback(name: str) -> str:
        asked.append(name)
        return {"username": "tim", "password": "tanstaaftanstaaf"}[name]

    client = SASLClient("h", "imap", "PLAIN", callback=callback)
    assert client.process(None) == b"\x00tim\x00tanstaaftanstaaf"
    assert asked == ["username", "password"]
    with pytest.raises(kit.SASLError, match="callback has not been set"):
        SASLClient("h", "imap", "PLAIN")


def test_dispose_drops_the_password() -> None:
    client = SASLClient("h", "imap", "PLAIN", username="tim", password="secret-pw")
    client.process(None)
    client.dispose()
    assert client.complete
    assert "secret-pw" not in repr(vars(client)) and client._chosen_mech is not None
    assert client._chosen_mech.options.password == ""


def test_install_makes_import_puresasl_the_drop_in() -> None:
    code = (
        "import sasl_kit.compat.puresasl as m; m.install()\n"
        "import puresasl, puresasl.client\n"
        "print(puresasl.__name__, puresasl.client.SASLClient.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["sasl_kit.compat.puresasl", "sasl_kit.compat.puresasl.client"]


@given(st.sampled_from(["CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "PLAIN"]), st.binary(max_size=300))
def test_any_challenge_gives_a_result_or_a_drop_in_error(mechanism: str, challenge: bytes) -> None:
    client = SASLClient("h", "imap", mechanism, username="u", password="p")
    client.process(None)
    try:
        response = client.process(challenge)
    except (kit.SASLError, kit.SASLProtocolException):
        return  # the drop-in's errors, as a caller of pure-sasl catches them
    assert response is None or isinstance(response, bytes)


def test_the_pth_line_of_the_docs_makes_puresasl_the_drop_in(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "compat.md").read_text()
    match = re.search(r"echo '([^']+)' > .*\.pth", page)
    assert match is not None, "docs/compat.md lost its .pth one-liner"
    (tmp_path / "puresasl-is-sasl-kit.pth").write_text(match[1] + "\n")
    code = f"import site; site.addsitedir({str(tmp_path)!r}); import puresasl; print(puresasl)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "'sasl_kit.compat.puresasl'" in out.stdout
