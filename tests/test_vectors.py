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
# A vector may say that one side cannot be replayed (its "replay" list, docs/vectors.md).
CLIENT_SIDE = [v for v in EXCHANGES if "client" in v.get("replay", ["client", "server"])]
SERVER_SIDE = [v for v in EXCHANGES if "server" in v.get("replay", ["client", "server"])]


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


@pytest.mark.parametrize("vector", CLIENT_SIDE, ids=_ids(CLIENT_SIDE))
def test_client_reproduces_exchange(vector: Mapping[str, Any]) -> None:
    replay_client(vector)


@pytest.mark.parametrize("vector", SERVER_SIDE, ids=_ids(SERVER_SIDE))
def test_server_reproduces_exchange(vector: Mapping[str, Any]) -> None:
    replay_server(vector)


def test_a_side_left_out_of_replay_says_why() -> None:
    for vector in EXCHANGES:
        if set(vector.get("replay", ["client", "server"])) != {"client", "server"}:
            assert vector["source"].get("note"), vector["id"]


@pytest.mark.parametrize("vector", FUNCTIONS, ids=_ids(FUNCTIONS))
def test_function_reproduces_value(vector: Mapping[str, Any]) -> None:
    check_function(vector)
