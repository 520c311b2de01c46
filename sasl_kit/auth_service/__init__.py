"""An authentication service that speaks Dovecot's auth protocol (docs/auth-server.md).

``protocol``: the protocol without I/O; ``server``: the asyncio service behind
``sasl-kit auth-server``, which lets Postfix (``smtpd_sasl_type = dovecot``)
authenticate its clients with sasl-kit's server mechanisms.
"""

from sasl_kit.auth_service.server import AuthService, Listen, ServiceConfig

__all__ = ["AuthService", "Listen", "ServiceConfig"]
