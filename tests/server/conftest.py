"""Servers for tests/server: ``sasl-kit serve`` processes, each started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.running import USER, Serve


def _serve(factory: pytest.TempPathFactory, name: str, *options: str) -> Iterator[Serve]:
    server = Serve(factory.mktemp(name), *options)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """Defaults (on loopback: no AUTH failure delay), and a token for OAUTHBEARER/XOAUTH2."""
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    tokens.write_text(f"{USER}:good-token\n", encoding="utf-8")
    yield from _serve(tmp_path_factory, "serve", "--tokens", str(tokens))


@pytest.fixture(scope="session")
def slow_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    yield from _serve(tmp_path_factory, "slow", "--auth-failure-delay", "1")


@pytest.fixture(scope="session")
def idle_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    yield from _serve(tmp_path_factory, "idle", "--idle-timeout", "1")


@pytest.fixture(scope="session")
def small_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    yield from _serve(tmp_path_factory, "small", "--max-connections", "2")
