"""Fixtures for the interop tests: the peer programs and their private directories.

Rule of this file: a missing peer program skips its tests on a developer's
machine, but FAILS them when ``CI`` is set (``CI=true``): there ``scripts/test``
has installed every peer, so a missing one means the installation is broken.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.mta import (
    DOVECOT,
    POSTFIX,
    Dovecot,
    DovecotOAuth,
    MailSite,
    Postfix,
    PostfixOAuth,
    mail_site,
)
from tests.interop.peers import (
    CYRUS_CLIENT,
    CYRUS_SERVER,
    GSASL,
    SASLPASSWD2,
    SITE,
    STDBUF,
    CyrusConfig,
    installed,
    make_cyrus_config,
)
from tests.interop.xmpp import PROSODY, PROSODYCTL, Prosody, prosody

CYRUS_MECHANISMS = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "DIGEST-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_programs(*programs: str) -> None:
    """Skip (or, in CI, fail) unless every program is installed."""
    missing = [p for p in programs if not installed(p)]
    if not missing:
        return
    reason = f"peer not installed: {', '.join(missing)} (scripts/test installs it)"
    if in_ci():
        pytest.fail(f"{reason}; CI is set, so a missing peer is a failure", pytrace=False)
    pytest.skip(reason)


def require_root(reason: str) -> None:
    """Skip (or, in CI, fail) unless we are root; ``reason`` says what needs it."""
    if os.geteuid() == 0:
        return
    if in_ci():
        pytest.fail(f"{reason}; CI is set, so this is a failure", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def gsasl(tmp_path: Path) -> Path:
    """GNU SASL is installed; returns a private working directory for one run."""
    require_programs(GSASL)
    return tmp_path


@pytest.fixture(scope="session")
def cyrus(tmp_path_factory: pytest.TempPathFactory) -> CyrusConfig:
    """Cyrus's sample programs are installed; a private config and sasldb for the site."""
    require_programs(CYRUS_SERVER, CYRUS_CLIENT, SASLPASSWD2, STDBUF)
    return make_cyrus_config(tmp_path_factory.mktemp("cyrus"), SITE, CYRUS_MECHANISMS)


@pytest.fixture(scope="session")
def mail_store() -> Iterator[MailSite]:
    """Dovecot and Postfix are installed and we are root; their shared private directory."""
    require_programs(DOVECOT, POSTFIX)
    require_root("the private Dovecot and Postfix need root (they drop to their own users)")
    with mail_site() as site:
        yield site


@pytest.fixture(scope="session")
def dovecot(mail_store: MailSite) -> Iterator[Dovecot]:
    """A private Dovecot on 127.0.0.1 (IMAP, POP3, auth listener), once per session."""
    with Dovecot(mail_store) as server:
        server.start()
        yield server


@pytest.fixture(scope="session")
def dovecot_oauth(mail_store: MailSite) -> Iterator[DovecotOAuth]:
    """A second private Dovecot whose passdb validates OAuth bearer tokens (JWT) locally."""
    with DovecotOAuth(mail_store) as server:
        server.start()
        yield server


@pytest.fixture(scope="session")
def postfix_oauth(mail_store: MailSite, dovecot_oauth: DovecotOAuth) -> Iterator[PostfixOAuth]:
    """A second private Postfix, authenticating through ``dovecot_oauth``."""
    with PostfixOAuth(mail_store, dovecot_oauth) as server:
        server.start()
        yield server


@pytest.fixture(scope="session")
def postfix(mail_store: MailSite, dovecot: Dovecot) -> Iterator[Postfix]:
    """A private Postfix on 127.0.0.1 authenticating through ``dovecot``, once per session."""
    with Postfix(mail_store, dovecot) as server:
        server.start()
        yield server


@pytest.fixture(scope="session")
def prosody_server() -> Iterator[Prosody]:
    """A private Prosody 0.12 on 127.0.0.1 (c2s, STARTTLS required), once per session."""
    require_programs(PROSODY, PROSODYCTL)
    require_root("the private Prosody needs root (it runs as the prosody user)")
    with prosody() as server:
        yield server
