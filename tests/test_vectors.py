"""Every vector file in vectors/ is reproduced: exchanges on both sides, formulas by value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sasl_kit.vectors import (
    KINDS,
    check_function,
    iter_vectors,
    load_all,
    replay_client,
    replay_server,
)

EXCHANGES = [v for _, v in iter_vectors("exchange")]
FUNCTIONS = [v for _, v in iter_vectors("function")]


def _ids(vectors: list[Mapping[str, Any]]) -> list[str]:
    return [v["id"] for v in vectors]


def test_every_file_has_a_known_kind() -> None:
    assert {f.kind for f in load_all()} <= set(KINDS)


def test_every_vector_cites_its_source_and_ids_are_unique() -> None:
    ids = [v["id"] for f in load_all() for v in f.vectors]
    assert len(ids) == len(set(ids))
    for vector_file in load_all():
        for vector in vector_file.vectors:
            assert vector["source"]["document"] and vector["source"]["section"]


@pytest.mark.parametrize("vector", EXCHANGES, ids=_ids(EXCHANGES))
def test_client_reproduces_exchange(vector: Mapping[str, Any]) -> None:
    if "client" in vector.get("replay", ["client", "server"]):
        replay_client(vector)
    else:
        pytest.skip(f"{vector['id']}: the vector says the client side cannot be replayed")


@pytest.mark.parametrize("vector", EXCHANGES, ids=_ids(EXCHANGES))
def test_server_reproduces_exchange(vector: Mapping[str, Any]) -> None:
    if "server" in vector.get("replay", ["client", "server"]):
        replay_server(vector)
    else:
        pytest.skip(f"{vector['id']}: the vector says the server side cannot be replayed")


@pytest.mark.parametrize("vector", FUNCTIONS, ids=_ids(FUNCTIONS))
def test_function_reproduces_value(vector: Mapping[str, Any]) -> None:
    check_function(vector)
