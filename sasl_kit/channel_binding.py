"""TLS channel-binding data for SCRAM-*-PLUS, read from an ``ssl`` connection.

Rules of this module:
- It is the one sasl-kit module that looks at ``ssl`` objects. A mechanism gets
  a ``ChannelBinding`` value (type and bytes) and never a socket.
- tls-server-end-point (RFC 5929 4.1): the hash of the server's certificate
  (DER), with the hash of the certificate's signature algorithm, SHA-256 in
  place of MD5 or SHA-1. A client reads the certificate from the connection; a
  server passes its own, which ``ssl`` does not hand back.
- tls-unique (RFC 5929 3.1): the first Finished message. Refused on TLS 1.3,
  where it is not defined (RFC 9266 3).
- tls-exporter (RFC 9266 2): 32 bytes exported with the label
  ``EXPORTER-Channel-Binding`` and an empty context. The standard library's
  ``ssl`` exports no keying material, so this module cannot read it: a caller
  whose TLS library can (pyOpenSSL's ``Connection.export_keying_material``, for
  one) builds ``ChannelBinding("tls-exporter", data)`` itself.
"""

from __future__ import annotations

import functools
import hashlib
import ssl
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from sasl_kit.errors import PolicyRefused, UsageError
from sasl_kit.mechanisms.base import ChannelBinding

__all__ = ["ChannelBinding", "from_connection", "hook", "tls_server_end_point", "tls_unique"]

TLSConnection = ssl.SSLSocket | ssl.SSLObject


def tls_server_end_point(certificate: bytes) -> ChannelBinding:
    """RFC 5929 4.1: hash the server certificate (DER) with its signature's hash."""
    try:
        cert = x509.load_der_x509_certificate(certificate)
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    except ValueError:
        raise UsageError("tls-server-end-point: the certificate is not DER") from None
    if algorithm is None:
        raise PolicyRefused(
            "tls-server-end-point is undefined for a certificate whose signature uses no "
            "single hash (RFC 5929 4.1); use tls-exporter"
        )
    # RFC 5929 4.1: a signature hashed with MD5 or SHA-1 binds with SHA-256 instead.
    name = "sha256" if algorithm.name in ("md5", "sha1") else algorithm.name.replace("-", "_")
    return ChannelBinding("tls-server-end-point", hashlib.new(name, certificate).digest())


def tls_unique(connection: TLSConnection) -> ChannelBinding:
    """RFC 5929 3.1: the connection's first Finished message; not on TLS 1.3 (RFC 9266 3)."""
    version = connection.version()
    if version is None:
        raise UsageError("tls-unique: the TLS handshake has not completed")
    if version == "TLSv1.3":
        raise PolicyRefused("tls-unique is not defined for TLS 1.3 (RFC 9266 3); use tls-exporter")
    data = connection.get_channel_binding("tls-unique")
    if not data:
        raise UsageError("tls-unique: the connection has no Finished message to bind to")
    return ChannelBinding("tls-unique", data)


def from_connection(connection: TLSConnection, binding_type: str) -> ChannelBinding:
    """The binding of ``binding_type`` for a connection, as far as ``ssl`` can give it.

    tls-server-end-point here is the client's view (the peer's certificate); a
    server calls ``tls_server_end_point`` with its own certificate.
    """
    if binding_type == "tls-unique":
        return tls_unique(connection)
    if binding_type == "tls-server-end-point":
        if connection.server_side:
            raise UsageError(
                "tls-server-end-point on the server side: pass the server's own certificate "
                "to tls_server_end_point(), ssl does not return it"
            )
        certificate = connection.getpeercert(binary_form=True)
        if not certificate:
            raise UsageError("tls-server-end-point: the server sent no certificate")
        return tls_server_end_point(certificate)
    if binding_type == "tls-exporter":
        raise UsageError(
            "tls-exporter: the standard library's ssl exports no keying material; build "
            "ChannelBinding('tls-exporter', data) from a TLS library that does (RFC 9266)"
        )
    raise UsageError(f"unknown channel binding type {binding_type!r}")


def hook(binding_type: str) -> Callable[[TLSConnection], ChannelBinding]:
    """``from_connection`` for ``binding_type``: what ``SMTPClient(channel_binding=...)`` takes."""
    return functools.partial(from_connection, binding_type=binding_type)
