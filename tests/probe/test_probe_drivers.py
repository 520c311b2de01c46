"""probe reaches any protocol of DRIVERS through its table rows alone: ManageSieve here,
whose profile and driver were written without a line of probe (a real Dovecot 2.3)."""

from __future__ import annotations

import pytest

from sasl_kit.probe import Outcome, Target, probe
from tests.interop.mta import HOST, MECHANISMS
from tests.interop.peers import ALICE
from tests.interop.sieve import DovecotSieve
from tests.interop.test_sieve import dovecot_sieve  # noqa: F401  (the session's server)

pytestmark = pytest.mark.interop


def test_probe_lists_and_tries_every_mechanism_of_a_sieve_server(
    dovecot_sieve: DovecotSieve,  # noqa: F811
) -> None:
    target = Target.from_url(f"sieve://{HOST}:{dovecot_sieve.sieve_port}")
    report = probe(
        target,
        username=ALICE.user,
        password=ALICE.password,
        cafile=dovecot_sieve.site.cafile,
        timeout=10,
    )
    assert (report.before_tls, report.after_tls) == (MECHANISMS, MECHANISMS)
    tried = {a.mechanism: a.outcome for a in report.attempts}
    assert tried and all(outcome is Outcome.OK for outcome in tried.values()), report.attempts


def test_a_wrong_password_at_a_sieve_server_is_rejected_and_read_back_by_verify(
    dovecot_sieve: DovecotSieve,  # noqa: F811
) -> None:
    target = Target("sieve", HOST, dovecot_sieve.sieve_port, "starttls")
    report = probe(
        target, username=ALICE.user, password="wrong", cafile=dovecot_sieve.site.cafile, timeout=10
    )
    cram = next(a for a in report.attempts if a.mechanism == "CRAM-MD5")
    assert cram.outcome is Outcome.REJECTED
    # verify reads the exchange back through the sieve profile: our response is right for
    # the password given, so the rejection is that password's.
    assert cram.verified is not None and cram.verified.verdict == "correct"
