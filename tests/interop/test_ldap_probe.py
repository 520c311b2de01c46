"""sasl-kit probe against the private slapd (tests/interop/ldap.py): the LDAP driver and
profile reached through the DRIVERS/SCHEMES rows alone, as any other protocol."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from sasl_kit.drivers import open_session
from sasl_kit.drivers.base import SessionSettings, StartTLSUnavailable
from sasl_kit.probe import Outcome, Target, TLSUnavailable, probe
from tests.interop.ldap import HOST, Slapd, running_slapd, slapd  # noqa: F401 -- the server
from tests.interop.peers import ALICE
from tests.interop.test_ldap import OFFERED, USABLE

pytestmark = pytest.mark.interop

TRIED = tuple(name for name in USABLE if name != "ANONYMOUS")  # probe asks for a password


@pytest.mark.parametrize("scheme", ["ldap", "ldaps"])
def test_probe_lists_what_slapd_offers_and_every_mechanism_works(
    slapd: Slapd,  # noqa: F811
    scheme: str,
) -> None:
    port = slapd.port if scheme == "ldap" else slapd.ldaps_port
    target = Target.from_url(f"{scheme}://{HOST}:{port}")
    report = probe(
        target, username=ALICE.user, password=ALICE.password, cafile=slapd.cafile, timeout=10
    )
    assert report.before_tls == (OFFERED if scheme == "ldap" else None)
    assert report.after_tls == OFFERED
    tried = {a.mechanism: a.outcome for a in report.attempts if a.outcome is not Outcome.SKIPPED}
    assert tried == dict.fromkeys(TRIED, Outcome.OK), report.attempts


def test_a_wrong_password_is_rejected_and_verify_blames_the_password(
    slapd: Slapd,  # noqa: F811
) -> None:
    target = Target.from_url(f"ldap://{HOST}:{slapd.port}")
    report = probe(target, username=ALICE.user, password="wrong", cafile=slapd.cafile, timeout=10)
    tried = [a for a in report.attempts if a.outcome is not Outcome.SKIPPED]
    assert {a.mechanism for a in tried} == set(TRIED)
    assert {a.outcome for a in tried} == {Outcome.REJECTED}
    # verify read each failed bind back through the LDAP profile: our responses are right
    # for the password given, so the rejection is that password's.
    for attempt in tried:
        if attempt.mechanism in ("CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-256"):
            assert attempt.verified is not None, attempt
            assert attempt.verified.verdict == "correct", attempt


def test_a_slapd_without_a_certificate_has_no_starttls(tmp_path: Path) -> None:
    # slapd answers the StartTLS request with protocolError (2) "unsupported extended
    # operation": the driver's StartTLSUnavailable, probe's TLSUnavailable.
    with running_slapd(tmp_path, tls=False) as plain:
        settings = SessionSettings(
            HOST, plain.port, "starttls", context=ssl.create_default_context()
        )
        with pytest.raises(StartTLSUnavailable, match=r"protocolError \(2\)"):
            open_session("ldap", settings)
        with pytest.raises(TLSUnavailable):
            probe(f"ldap://{HOST}:{plain.port}", timeout=10)
        report = probe(Target.from_url(f"ldap://{HOST}:{plain.port}").without_tls(), timeout=10)
        assert (report.before_tls, report.after_tls) == (OFFERED, None)  # in the clear, if asked
