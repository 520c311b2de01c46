"""Fixtures for the probe tests: the interop servers, and a Dovecot that cannot verify.

``hashed_site`` runs a second Dovecot (and a Postfix asking it) whose passdb
holds only ``{SHA256}`` hashes while it still advertises CRAM-MD5, DIGEST-MD5
and SCRAM: those are advertised but cannot succeed, and PLAIN still works.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.interop.conftest import dovecot, mail_store, postfix, require_programs
from tests.interop.mta import DOVECOT, POSTFIX, Dovecot, MailSite, Postfix, mail_site

__all__ = ["dovecot", "mail_store", "postfix"]


@dataclass(frozen=True)
class HashedSite:
    site: MailSite
    dovecot: Dovecot
    postfix: Postfix


@pytest.fixture(scope="session")
def hashed_site(mail_store: MailSite) -> Iterator[HashedSite]:
    """Dovecot with hashed passwords only, and a Postfix authenticating through it."""
    require_programs(DOVECOT, POSTFIX)
    with mail_site() as site, Dovecot(site, scheme="SHA256") as server:
        server.start()
        with Postfix(site, server) as mta:
            mta.start()
            yield HashedSite(site, server, mta)
