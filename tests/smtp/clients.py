"""``AsyncSMTPClient`` behind ``SMTPClient``'s blocking API, so that every test of
``tests/smtp`` runs against both clients unchanged (see ``conftest.py``).

Rules of this file: it adds no behaviour. Each coroutine method of the async
client is run to completion on one event loop kept for the session (closed
after ``quit``, ``close`` and the ``with`` block); every other attribute is
the async client's own.
"""

from __future__ import annotations

import asyncio
import inspect
from types import TracebackType
from typing import Any

from sasl_kit.smtp.aio import AsyncSMTPClient


class BlockingAsyncSMTPClient:
    """The async client, each awaited call run to its end before it returns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = AsyncSMTPClient(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._complete(attribute(*args, **kwargs), last=name in ("quit", "close"))

        return blocking

    def _complete(self, step: Any, *, last: bool = False) -> Any:
        if self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        try:
            return self._loop.run_until_complete(step)
        finally:
            if last:
                self._loop.close()

    def __enter__(self) -> BlockingAsyncSMTPClient:
        self._complete(self._client.connect())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._complete(self._client.__aexit__(exc_type, exc, tb), last=True)
