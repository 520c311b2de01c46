"""pytest fixtures for a local SMTP server with every mechanism (docs/serve.md).

Registered through the ``pytest11`` entry point, so installing sasl-kit is enough:

- ``smtp_server``: a ``MailServer`` started in-process on 127.0.0.1 and a free
  port, with a fresh self-signed certificate (``cafile``) and a maildir under
  the test's ``tmp_path``; ``messages()`` returns what it received. Options
  come from the marker ``@pytest.mark.smtp_server(users={...}, implicit_tls=True, ...)``
  (the keywords of ``ServerConfig``, ``users`` as a ``{user: password}`` dict).
  Without ``users`` there is one user, ``SMTP_USER`` with ``SMTP_PASSWORD``.
- ``smtp_server_factory``: a function taking the same keywords, for several
  servers in one test; each is stopped at the end of the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sasl_kit.smtp_server import MailServer, ServerConfig, Users

SMTP_USER, SMTP_PASSWORD = "user", "password"
MARKER = "smtp_server"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): smtp_server fixture options (sasl_kit.smtp_server.ServerConfig)",
    )


@pytest.fixture
def smtp_server_factory(tmp_path: Path) -> Iterator[Callable[..., MailServer]]:
    """Start servers with ``ServerConfig`` keywords; all stop when the test ends."""
    started: list[MailServer] = []
    numbers = itertools.count(1)

    def start(**options: Any) -> MailServer:
        users = options.pop("users", {SMTP_USER: SMTP_PASSWORD})
        if not isinstance(users, Users):
            users = Users.from_passwords(users)
        options.setdefault("maildir", tmp_path / f"maildir-{next(numbers)}")
        server = MailServer(ServerConfig(users=users, **options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(
    request: pytest.FixtureRequest, smtp_server_factory: Callable[..., MailServer]
) -> MailServer:
    """A running server; host, port, cafile, messages(). Options: the ``smtp_server`` marker."""
    marker = request.node.get_closest_marker(MARKER)
    return smtp_server_factory(**(marker.kwargs if marker else {}))
