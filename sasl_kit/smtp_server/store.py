"""Received mail: a maildir, with each message's envelope in a JSON file beside it.

Rules of this module:
- Messages go into a standard maildir (``mailbox.Maildir``: ``new/``, ``cur/``,
  ``tmp/``) exactly as received, CRLF line endings and all; mail readers see an
  ordinary maildir.
- The envelope (sender, recipients, authenticated user, mechanism, time) is
  ``envelopes/KEY.json``, KEY being the maildir key. It is written after the
  message, atomically: a message counts as received once its envelope exists,
  so a reader never sees a message without its envelope.
"""

from __future__ import annotations

import datetime
import email
import email.message
import email.policy
import itertools
import json
import mailbox
import os
import threading
from dataclasses import dataclass
from pathlib import Path

ENVELOPES = "envelopes"


@dataclass(frozen=True)
class ReceivedMessage:
    """One stored message and its envelope. ``user``/``mechanism``: who authenticated, how."""

    key: str
    sender: str
    recipients: tuple[str, ...]
    user: str | None
    mechanism: str | None
    received: str
    sequence: int
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


class MailStore:
    """A maildir and its envelopes; safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._maildir = mailbox.Maildir(directory, create=True)
        (directory / ENVELOPES).mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._sequence = itertools.count(len(self._envelope_paths()) + 1)

    def add(
        self,
        data: bytes,
        *,
        sender: str,
        recipients: list[str],
        user: str | None,
        mechanism: str | None,
    ) -> str:
        """Store one message, then its envelope; returns the maildir key."""
        with self._lock:
            key = self._maildir.add(data)
            sequence = next(self._sequence)
        envelope = {
            "sender": sender,
            "recipients": recipients,
            "user": user,
            "mechanism": mechanism,
            "received": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "sequence": sequence,
        }
        final = self.directory / ENVELOPES / f"{key}.json"
        temporary = final.with_suffix(".tmp")
        temporary.write_text(json.dumps(envelope, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, final)
        return key

    def messages(self) -> list[ReceivedMessage]:
        """Every received message, in the order received."""
        found = []
        for path in self._envelope_paths():
            envelope = json.loads(path.read_text(encoding="utf-8"))
            key = path.name.removesuffix(".json")
            with self._lock:
                data = self._maildir.get_bytes(key)
            found.append(
                ReceivedMessage(
                    key=key,
                    sender=envelope["sender"],
                    recipients=tuple(envelope["recipients"]),
                    user=envelope["user"],
                    mechanism=envelope["mechanism"],
                    received=envelope["received"],
                    sequence=envelope["sequence"],
                    data=data,
                )
            )
        return sorted(found, key=lambda m: m.sequence)

    def _envelope_paths(self) -> list[Path]:
        return sorted((self.directory / ENVELOPES).glob("*.json"))
