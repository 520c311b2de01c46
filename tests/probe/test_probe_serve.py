"""``probe`` against ``sasl-kit serve`` (the ``smtp_server`` fixture): reached by a name
its DIGEST-MD5 does not answer to, the diagnosis names the host, not the password; with
channel binding, the -PLUS mechanisms are tried too."""

from __future__ import annotations

import pytest

from sasl_kit.probe import Outcome, probe
from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp_server import MailServer


def _digest(server: MailServer, host: str) -> tuple[Outcome, str, tuple[str, ...]]:
    report = probe(
        f"smtp://{host}:{server.port}",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        cafile=str(server.cafile),
        timeout=10,
    )
    (digest,) = (a for a in report.attempts if a.mechanism == "DIGEST-MD5")
    works = tuple(a.mechanism for a in report.attempts if a.outcome is Outcome.OK)
    return digest.outcome, digest.diagnosis, works


def test_a_host_name_the_server_refuses_in_digest_uri_is_named_as_the_cause(
    smtp_server: MailServer,
) -> None:
    # The server calls itself 127.0.0.1 (its realm); the probe connects as localhost.
    outcome, diagnosis, works = _digest(smtp_server, "localhost")
    assert outcome is Outcome.REJECTED and "PLAIN" in works
    assert diagnosis == (
        "the server checks the host name in DIGEST-MD5's digest-uri: it refused 'localhost' "
        "and accepted '127.0.0.1' (the realm it offered); connect to it by that name, or "
        "have the client name that host"
    )


def test_by_the_server_s_own_name_digest_md5_works(smtp_server: MailServer) -> None:
    outcome, diagnosis, _ = _digest(smtp_server, "127.0.0.1")
    assert (outcome, diagnosis) == (Outcome.OK, "")


@pytest.mark.parametrize(
    ("binding", "plus"), [(None, Outcome.SKIPPED), ("tls-server-end-point", Outcome.OK)]
)
def test_channel_binding_lets_the_plus_mechanisms_be_tried(
    smtp_server: MailServer, binding: str | None, plus: Outcome
) -> None:
    report = probe(
        f"smtp://127.0.0.1:{smtp_server.port}",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        cafile=str(smtp_server.cafile),
        timeout=10,
        channel_binding=binding,
    )
    outcomes = {a.mechanism: a.outcome for a in report.attempts}
    assert {outcomes[n] for n in outcomes if n.endswith("-PLUS")} == {plus}
    assert {outcomes[n] for n in outcomes if n.startswith("SCRAM") and "PLUS" not in n} == {
        Outcome.OK
    }
