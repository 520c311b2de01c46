"""Received mail: a maildir, with each message's envelope in a JSON file beside it.

Rules of this module:
- Messages go into a standard maildir (``new/``, ``cur/``, ``tmp/``) exactly
  as received, CRLF line endings and all; mail readers see an ordinary
  maildir. The directory and its parents are made when missing, and an
  existing empty directory gets its three subdirectories.
- A message arrives as a ``Spool``: a file in ``tmp/`` written as the data
  comes, so no message is ever held whole in memory. ``MailStore.commit``
  delivers it the maildir way (as qmail, Postfix's virtual and Dovecot's LDA
  do): fsync the file, rename it into ``new/``, fsync ``new/``.
- The envelope (sender, recipients, authenticated user, mechanism, time) is
  ``envelopes/KEY.json``, KEY being the maildir key. It is written after the
  message, atomically and fsync'ed too: a message counts as received once its
  envelope exists, so a reader never sees a message without its envelope.
  ``commit`` returns only when both are on disk; only then may a server say 250.
- ``commit`` blocks on the disk: an asyncio caller runs it in a thread.
  Failures are ``OSError`` with the details (paths included): for the log,
  never for a client.
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
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sasl_kit.errors import UsageError

ENVELOPES = "envelopes"
SUBDIRECTORIES = ("tmp", "new", "cur", ENVELOPES)
WRITE_SIZE = 256 * 1024  # a spool writes in pieces of this size


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


class Spool:
    """One message on its way in: a file in the maildir's ``tmp/``, written piece by piece.

    A write that fails is kept in ``error`` and the rest is ignored, so the
    caller can read the data to its end and then refuse the message.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: OSError | None = None
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._file: BinaryIO | None = path.open("xb", buffering=0)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= WRITE_SIZE:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending, self._pending_size = self._pending, [], 0
        if self._file is None or self.error is not None:
            return
        try:
            self._file.write(b"".join(pending))
        except OSError as exc:
            self.error = exc

    def finish(self) -> None:
        """Write what is pending, fsync and close the file (blocks on the disk)."""
        self._flush()
        if self.error is not None:
            raise self.error
        assert self._file is not None
        try:
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


class MailStore:
    """A maildir and its envelopes; safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            for name in SUBDIRECTORIES:
                (directory / name).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror
            raise UsageError(f"cannot use {str(directory)!r} as a maildir: {reason}") from None
        self._lock = threading.Lock()
        self._sequence = itertools.count(len(self._envelope_paths()) + 1)
        self._count = itertools.count(1)
        self._host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")

    def spool(self) -> Spool:
        """A new message's file in ``tmp/`` (``OSError`` when it cannot be made)."""
        now = time.time()
        # The maildir name: time, then what is unique on this host, then the host.
        key = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(self._count)}.{self._host}"
        return Spool(self.directory / "tmp" / key)

    def commit(
        self,
        spool: Spool,
        *,
        sender: str,
        recipients: list[str],
        user: str | None,
        mechanism: str | None,
    ) -> str:
        """Deliver a spooled message, then its envelope, both fsync'ed; returns the maildir key.

        On failure nothing of the message is left (spool, file in ``new/``,
        envelope) and the ``OSError`` is raised.
        """
        key = spool.path.name
        delivered = self.directory / "new" / key
        final = self.directory / ENVELOPES / f"{key}.json"
        temporary = final.with_name(f"{key}.tmp")
        with self._lock:
            sequence = next(self._sequence)
        envelope = {
            "sender": sender,
            "recipients": recipients,
            "user": user,
            "mechanism": mechanism,
            "received": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "sequence": sequence,
        }
        try:
            spool.finish()
            _write_synced(temporary, (json.dumps(envelope, indent=1) + "\n").encode())
            os.rename(spool.path, delivered)
            _sync_directory(delivered.parent)
            os.replace(temporary, final)
            _sync_directory(final.parent)
        except OSError:
            spool.discard()
            for path in (final, temporary, delivered):
                path.unlink(missing_ok=True)
            raise
        return key

    def messages(self) -> list[ReceivedMessage]:
        """Every received message, in the order received."""
        maildir = mailbox.Maildir(self.directory, create=False)
        found = []
        for path in self._envelope_paths():
            envelope = json.loads(path.read_text(encoding="utf-8"))
            key = path.name.removesuffix(".json")
            found.append(
                ReceivedMessage(
                    key=key,
                    sender=envelope["sender"],
                    recipients=tuple(envelope["recipients"]),
                    user=envelope["user"],
                    mechanism=envelope["mechanism"],
                    received=envelope["received"],
                    sequence=envelope["sequence"],
                    data=maildir.get_bytes(key),
                )
            )
        return sorted(found, key=lambda m: m.sequence)

    def _envelope_paths(self) -> list[Path]:
        return sorted((self.directory / ENVELOPES).glob("*.json"))


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_directory(path: Path) -> None:
    """fsync a directory, so a rename into it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
