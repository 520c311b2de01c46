"""Fixtures for the SMTP tests: a self-signed certificate for 127.0.0.1 and TLS contexts."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest

from sasl_kit.certificates import self_signed
from tests.smtp.clients import BlockingAsyncSMTPClient


@dataclass(frozen=True)
class Certificate:
    cafile: str
    der: bytes
    server_context: ssl.SSLContext


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A P-256 certificate for 127.0.0.1 and localhost, valid for a day, signed by itself."""
    directory: Path = tmp_path_factory.mktemp("tls")
    made = self_signed(("localhost", "127.0.0.1"))
    cert_path, _ = made.write(directory)
    return Certificate(str(cert_path), made.der, made.server_context(directory))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module that uses ``SMTPClient`` runs each test with both clients."""
    if "smtp_client" in metafunc.fixturenames and hasattr(metafunc.module, "SMTPClient"):
        metafunc.parametrize("smtp_client", ["sync", "async"], indirect=True)


@pytest.fixture(autouse=True)
def smtp_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``async``: the module's ``SMTPClient`` is ``AsyncSMTPClient`` behind its blocking API."""
    kind: str = getattr(request, "param", "sync")
    if kind == "async":
        monkeypatch.setattr(request.module, "SMTPClient", BlockingAsyncSMTPClient)
    return kind
