"""Bridges for asyncio mail clients: any registry mechanism inside ``aiosmtplib.SMTP``.

Rules of this module:
- A bridge moves bytes between the library's connection and the SMTP profile
  (``sasl_kit.protocols.smtp``), which frames AUTH, reads the replies and says
  what they mean; nothing about SMTP's ``334`` or base64 lives here. Which
  mechanism runs is the registry's decision (``login_plan.plan_login``), as in
  the synchronous bridges (``sasl_kit.bridges``).
- aiosmtplib hands over its replies parsed (code, lines); the bridge writes
  them back as the reply lines they were (``code-line`` ... ``code line``) for
  the profile to read, so that every rule of RFC 4954 is applied in one place.
- A refusal surfaces as aiosmtplib's own ``SMTPAuthenticationError`` (what its
  callers handle), with the mechanism's account of it when there is one (an
  OAuth error's JSON status); a mechanism refused by the server (504, 534) lets
  the next usable one try. What the mechanism finds wrong, or a server that
  reports success without proving itself, is the mechanism's ``SASLError``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import aiosmtplib

from sasl_kit import channel_binding as bindings
from sasl_kit.login_plan import plan_login
from sasl_kit.protocols import profile
from sasl_kit.protocols.base import Outcome, Result
from sasl_kit.registry import Registry, default_registry


async def aiosmtplib_authenticate(
    smtp: aiosmtplib.SMTP,
    username: str,
    password: str = "",
    *,
    mechanisms: Collection[str] | None = None,
    allow_plaintext: bool = False,
    binding_type: str | None = None,
    registry: Registry = default_registry,
    **options: Any,
) -> str:
    """Authenticate ``smtp`` (connected, after EHLO) with the strongest usable mechanism.

    ``mechanisms`` limits the choice; ``binding_type`` (``tls-server-end-point``,
    ``tls-unique``) gives SCRAM-*-PLUS this TLS connection's binding; ``options``
    are further ``ClientOptions`` fields (``token`` for OAUTHBEARER/XOAUTH2).
    Returns the mechanism's name.
    """
    ssl_object = smtp.get_transport_info("ssl_object")
    binding = None
    if binding_type is not None and ssl_object is not None:
        binding = bindings.from_connection(ssl_object, binding_type)
    smtp_profile = profile("smtp")
    plan = plan_login(
        registry,
        smtp.server_auth_methods,
        encrypted=ssl_object is not None,
        username=username,
        password=password,
        service=smtp_profile.service,
        host=smtp.hostname or "localhost",
        options=options,
        binding=binding,
        allow_plaintext=allow_plaintext,
        allow=mechanisms,
    )
    if not plan.choice.usable:
        reasons = "; ".join(f"{name}: {why}" for name, why in plan.choice.passed_over.items())
        raise aiosmtplib.SMTPException(f"no usable AUTH mechanism at {smtp.hostname}: {reasons}")
    refused: Result | None = None
    for name, mechanism in plan:
        result = await _exchange(smtp, smtp_profile.client(name, mechanism))
        if result.outcome is Outcome.SUCCESS:
            return name
        if result.outcome is Outcome.CANCELLED:
            result.raise_for_outcome(smtp.hostname or "the server")
        if result.outcome is not Outcome.REFUSED:
            reason = mechanism.server_reason
            text = result.text + (f"; its {name} error: {reason}" if reason else "")
            raise aiosmtplib.SMTPAuthenticationError(int(result.code or 0), text)
        refused = result
    assert refused is not None
    raise aiosmtplib.SMTPAuthenticationError(int(refused.code or 0), refused.text)


async def _exchange(smtp: aiosmtplib.SMTP, auth: Any) -> Result:
    """One exchange: the profile's bytes out, aiosmtplib's replies back in as reply lines."""
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("not connected")
    out = auth.start()
    while auth.result is None:
        if out:
            protocol.write(out)
        response = await protocol.read_response(timeout=smtp.timeout)
        out = auth.receive(_reply_bytes(response.code, response.message))
    result: Result = auth.result
    return result


def _reply_bytes(code: int, message: str) -> bytes:
    """A parsed reply as it came off the wire: ``code-line`` for all lines but the last."""
    lines = message.split("\n") or [""]
    text = "".join(f"{code}-{line}\r\n" for line in lines[:-1]) + f"{code} {lines[-1]}\r\n"
    return text.encode("utf-8")
