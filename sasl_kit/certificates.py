"""Self-signed certificates for local servers and tests, made with ``cryptography``.

Rules of this module:
- A certificate here is for loopback use only: self-signed, short-lived, its
  names in subjectAltName (IP addresses as iPAddress, others as dNSName).
- The private key never shows in a ``repr``; ``write`` leaves it readable by its
  owner only.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from sasl_kit.errors import UsageError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512


@dataclass(frozen=True)
class SelfSigned:
    """A certificate and its key; the certificate is its own trust anchor (``cafile``)."""

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``cert.pem`` and ``key.pem`` (mode 0600) into ``directory``."""
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        cert_path.write_bytes(self.cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    def server_context(self, directory: Path) -> ssl.SSLContext:
        """A TLS server context presenting this certificate (files go to ``directory``)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.write(directory))
        return context


def self_signed(
    names: Sequence[str] = ("localhost", "127.0.0.1"),
    *,
    key: PrivateKey | None = None,
    algorithm: SignatureHash | None = hashes.SHA256(),  # noqa: B008 -- immutable
    lifetime: datetime.timedelta = datetime.timedelta(days=1),
) -> SelfSigned:
    """A certificate for ``names`` signed by its own key (a fresh P-256 key by default).

    ``algorithm`` is the signature hash; Ed25519 keys take ``None``.
    """
    if not names:
        raise UsageError("a certificate needs at least one name")
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, algorithm)
    )
    return SelfSigned(certificate, key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
