"""Fixtures for the SMTP tests: a self-signed certificate for 127.0.0.1 and TLS contexts."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest

from sasl_kit.certificates import self_signed


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
