"""Channel-binding data read from real TLS connections on 127.0.0.1, and used by SCRAM-*-PLUS."""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import sasl_kit
from sasl_kit import PolicyRefused, UsageError
from sasl_kit.certificates import PrivateKey, SignatureHash, self_signed
from sasl_kit.channel_binding import (
    ChannelBinding,
    from_connection,
    tls_server_end_point,
    tls_unique,
)

KEY = ec.generate_private_key(ec.SECP256R1())


def _certificate(algorithm: SignatureHash | None, key: PrivateKey = KEY) -> x509.Certificate:
    return self_signed(("127.0.0.1",), key=key, algorithm=algorithm).certificate


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclass
class Connection:
    """Both ends of one TLS connection, and the server's certificate (DER)."""

    client: ssl.SSLSocket
    server: ssl.SSLSocket
    certificate: bytes


@contextmanager
def _tls(tmp_path: Path, version: ssl.TLSVersion) -> Iterator[Connection]:
    """A TLS connection over 127.0.0.1 with a fresh self-signed certificate."""
    made = self_signed(("127.0.0.1",), key=KEY)
    server_context = made.server_context(tmp_path)
    cert_file = tmp_path / "cert.pem"
    certificate = made.certificate
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_verify_locations(cert_file)
    for context in (server_context, client_context):
        context.minimum_version = context.maximum_version = version
    with socket.create_server(("127.0.0.1", 0)) as listener:
        accepted: list[ssl.SSLSocket] = []

        def accept() -> None:
            sock, _ = listener.accept()
            accepted.append(server_context.wrap_socket(sock, server_side=True))

        thread = threading.Thread(target=accept)
        thread.start()
        raw = socket.create_connection(listener.getsockname(), timeout=10)
        client = client_context.wrap_socket(raw, server_hostname="127.0.0.1")
        thread.join(timeout=10)
        server = accepted[0]
        try:
            yield Connection(client, server, _der(certificate))
        finally:
            client.close()
            server.close()


def test_tls_server_end_point_is_the_same_on_both_ends(tmp_path: Path) -> None:
    with _tls(tmp_path, ssl.TLSVersion.TLSv1_3) as tls:
        client_view = from_connection(tls.client, "tls-server-end-point")
        server_view = tls_server_end_point(tls.certificate)
    assert client_view == server_view
    assert client_view.data == hashlib.sha256(tls.certificate).digest()


def test_tls_unique_is_the_same_on_both_ends_of_tls_1_2(tmp_path: Path) -> None:
    with _tls(tmp_path, ssl.TLSVersion.TLSv1_2) as tls:
        client_view = from_connection(tls.client, "tls-unique")
        server_view = tls_unique(tls.server)
    assert client_view == server_view
    assert client_view.type == "tls-unique" and len(client_view.data) >= 12


def test_tls_unique_is_refused_on_tls_1_3(tmp_path: Path) -> None:
    with (
        _tls(tmp_path, ssl.TLSVersion.TLSv1_3) as tls,
        pytest.raises(PolicyRefused, match=r"not defined for TLS 1\.3"),
    ):
        tls_unique(tls.client)


def test_the_server_must_pass_its_own_certificate(tmp_path: Path) -> None:
    with (
        _tls(tmp_path, ssl.TLSVersion.TLSv1_3) as tls,
        pytest.raises(UsageError, match="server's own certificate"),
    ):
        from_connection(tls.server, "tls-server-end-point")


def test_tls_exporter_must_come_from_the_caller(tmp_path: Path) -> None:
    with (
        _tls(tmp_path, ssl.TLSVersion.TLSv1_3) as tls,
        pytest.raises(UsageError, match="exports no keying material"),
    ):
        from_connection(tls.client, "tls-exporter")


def test_scram_plus_binds_to_a_real_connection(tmp_path: Path) -> None:
    with _tls(tmp_path, ssl.TLSVersion.TLSv1_2) as tls:
        bindings = {
            "tls-server-end-point": (
                from_connection(tls.client, "tls-server-end-point"),
                tls_server_end_point(tls.certificate),
            ),
            "tls-unique": (from_connection(tls.client, "tls-unique"), tls_unique(tls.server)),
        }
    for client_view, server_view in bindings.values():
        client = sasl_kit.client(
            "SCRAM-SHA-256-PLUS", username="user", password="pencil", channel_binding=client_view
        )
        server = sasl_kit.server(
            "SCRAM-SHA-256-PLUS", {"user": "pencil"}, channel_binding=server_view
        )
        message: bytes | None = b""
        for side in (client, server, client, server, client):
            message = side.step(message)
        assert client.complete and server.authcid == "user"


@pytest.mark.parametrize(
    ("algorithm", "hash_name"),
    [
        (hashes.SHA256(), "sha256"),
        (hashes.SHA384(), "sha384"),
        (hashes.SHA512(), "sha512"),
    ],
)
def test_tls_server_end_point_hashes_with_the_signature_hash(
    algorithm: SignatureHash, hash_name: str
) -> None:
    der = _der(_certificate(algorithm))
    assert tls_server_end_point(der).data == hashlib.new(hash_name, der).digest()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_server_end_point_replaces_sha1_with_sha256(tmp_path: Path) -> None:
    # cryptography no longer signs with SHA-1; the openssl command still does.
    pem = tmp_path / "sha1.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-sha1",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "1",
            "-out",
            str(pem),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    certificate = x509.load_pem_x509_certificate(pem.read_bytes())
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA1)
    der = _der(certificate)
    assert tls_server_end_point(der).data == hashlib.sha256(der).digest()


def test_tls_server_end_point_is_undefined_without_a_signature_hash() -> None:
    der = _der(_certificate(None, ed25519.Ed25519PrivateKey.generate()))
    with pytest.raises(PolicyRefused, match=r"RFC 5929 4\.1"):
        tls_server_end_point(der)


def test_a_certificate_must_be_der() -> None:
    with pytest.raises(UsageError, match="not DER"):
        tls_server_end_point(b"-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(("kind", "data"), [("tls-foo", b"x"), ("tls-unique", b"")])
def test_a_binding_needs_a_known_type_and_data(kind: str, data: bytes) -> None:
    with pytest.raises(UsageError):
        ChannelBinding(kind, data)
