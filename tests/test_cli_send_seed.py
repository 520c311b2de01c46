"""``sasl-kit send`` against the fake of the seed's Sendmail (issue 11): a 535 to a
challenge-response mechanism gets one line pointing to ``sasl-kit probe``, nothing is
retried, and every message names the command's options."""

from __future__ import annotations

import pytest

from sasl_kit.cli import main
from tests.probe.fakes import PASSWORD, USER, Seed, SeedServer
from tests.probe.test_probe_no_tls import PYTHON_FORMS

ENVELOPE = ["--from", "a@example.org", "--to", "b@example.org", "--subject", "hi", "--body", "x"]


def _send(capsys: pytest.CaptureFixture[str], server: SeedServer, *argv: str) -> tuple[int, str]:
    login = ["--username", USER, "--password", PASSWORD, "--timeout", "5"]
    status = main(["send", "--server", server.url, *argv, *login, *ENVELOPE])
    out, err = capsys.readouterr()
    assert out == ""
    return status, err


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "DIGEST-MD5"])
def test_a_535_to_a_shared_secret_mechanism_points_to_probe_and_is_not_retried(
    capsys: pytest.CaptureFixture[str], mechanism: str
) -> None:
    with SeedServer() as server:
        status, err = _send(
            capsys, server, "--no-tls", "--allow-plaintext", "--mechanism", mechanism
        )
    assert status == 3
    assert server.auths == [mechanism]  # RFC 4954: 535 ends it; PLAIN is not tried after
    error, hint = err.splitlines()
    assert error == (
        f"sasl-kit: error: 127.0.0.1 rejected the credentials (AUTH {mechanism}: "
        "535 5.7.0 authentication failed)"
    )
    assert hint == (
        "hint: the server also offers PLAIN and LOGIN; "
        f"`sasl-kit probe {server.url} --no-tls --allow-plaintext --username alice` (same "
        f"password) tells whether it can verify {mechanism} at all (Cyrus SASL checking "
        "passwords through saslauthd cannot)"
    )


def test_the_strongest_mechanism_refused_stops_the_session_with_the_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SeedServer() as server:
        status, err = _send(capsys, server, "--no-tls", "--allow-plaintext")
    assert (status, server.auths) == (3, ["DIGEST-MD5"])
    assert err.splitlines()[1].startswith("hint: the server also offers PLAIN and LOGIN")


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(Seed(saslauthd_down=True), id="plain-refused"),
        pytest.param(Seed(mechanisms=("CRAM-MD5",)), id="no-plaintext-offered"),
    ],
)
def test_no_hint_where_probe_could_not_tell_more(
    capsys: pytest.CaptureFixture[str], seed: Seed
) -> None:
    mechanism = "PLAIN" if seed.saslauthd_down else "CRAM-MD5"
    with SeedServer(seed) as server:
        status, err = _send(
            capsys, server, "--no-tls", "--allow-plaintext", "--mechanism", mechanism
        )
    assert status == 3
    assert len(err.splitlines()) == 1 and "rejected the credentials" in err


def test_a_server_without_starttls_names_the_options_not_python_parameters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SeedServer() as server:
        status, err = _send(capsys, server)
    assert (status, server.auths) == (3, [])
    assert err == (
        "sasl-kit: error: 127.0.0.1 does not offer STARTTLS: add --no-tls to send without "
        "TLS (with --username, also --allow-plaintext: the credentials then cross in the "
        "clear)\n"
    )
    assert not PYTHON_FORMS.search(err)
