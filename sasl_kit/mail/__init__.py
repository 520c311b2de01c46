"""Compose mail for the SMTP client: ``compose`` checks and builds, ``OutgoingMessage`` streams.

    >>> from sasl_kit.mail import compose
    >>> message = compose(sender="a@example.org", to="b@example.org", subject="Hi", text="Hello")
    >>> message.recipients
    ('b@example.org',)
    >>> message.size() == len(b"".join(message.chunks()))
    True

``compose`` (``sasl_kit.mail.compose``) is the only way in; the transport
uses ``sender``, ``recipients``, ``smtputf8``, ``eight_bit``, ``size()`` and
``chunks()`` of the result (``sasl_kit.mail.stream``) and nothing else.
"""

from __future__ import annotations

from sasl_kit.mail.compose import Attachment, compose
from sasl_kit.mail.stream import OutgoingMessage

__all__ = ["Attachment", "OutgoingMessage", "compose"]
