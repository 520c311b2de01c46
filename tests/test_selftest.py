"""The self-test: the generic handshake driver and the rows ``run`` returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sasl_kit
from sasl_kit import AuthenticationFailed, MechanismInfo, Registry, vectors
from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism
from sasl_kit.registry import BUILTINS
from sasl_kit.selftest import HandshakeMismatch, Result, handshake, run

ROOT = Path(__file__).resolve().parent.parent
USERS = {"tim": "tänstaaf"}


def _pair(name: str, password: str = USERS["tim"]) -> tuple[ClientMechanism, ServerMechanism]:
    return sasl_kit.client(name, username="tim", password=password), sasl_kit.server(name, USERS)


@pytest.mark.parametrize(
    ("name", "round_trips", "additional_data"),
    [("PLAIN", 0, False), ("CRAM-MD5", 1, False), ("LOGIN", 2, False), ("DIGEST-MD5", 2, True)],
)
def test_handshake_counts_the_challenges_the_client_answered(
    name: str, round_trips: int, additional_data: bool
) -> None:
    result = handshake(*_pair(name))
    assert (result.round_trips, result.additional_data) == (round_trips, additional_data)
    assert (result.authcid, result.authzid) == ("tim", "tim")


def test_handshake_lets_the_servers_refusal_through() -> None:
    with pytest.raises(AuthenticationFailed):
        handshake(*_pair("CRAM-MD5", password="wrong"))


class _Chatty(ServerMechanism):
    """Never completes: challenges forever."""

    name = "X-CHATTY"

    def _step(self, data: bytes | None) -> bytes | None:
        return b"more?"


class _Eager(ServerMechanism):
    """Accepts anyone at once, with ``welcome`` as additional data."""

    name = "X-EAGER"
    welcome: bytes | None = b"welcome"

    def _step(self, data: bytes | None) -> bytes | None:
        self._accept("tim", "")
        return self.welcome


class _Answers(ClientMechanism):
    """Answers every challenge with ``b"ok"`` and never completes."""

    name = "X-ANSWERS"

    def _step(self, data: bytes | None) -> bytes | None:
        return b"ok"


def _options() -> sasl_kit.ServerOptions:
    return sasl_kit.ServerOptions(credentials=sasl_kit.PasswordTable(USERS))


def test_handshake_gives_up_on_a_server_that_never_completes() -> None:
    client = _Answers(sasl_kit.ClientOptions())
    with pytest.raises(HandshakeMismatch, match="no end after 3 round trips"):
        handshake(client, _Chatty(_options()), max_round_trips=3)


def test_handshake_wants_an_empty_answer_to_additional_data() -> None:
    with pytest.raises(HandshakeMismatch, match="non-empty answer to additional data"):
        handshake(_Answers(sasl_kit.ClientOptions()), _Eager(_options()))


def test_handshake_refuses_a_server_that_accepts_before_the_client_is_done() -> None:
    server = _Eager(_options())
    server.welcome = None
    with pytest.raises(HandshakeMismatch, match="client did not complete"):
        handshake(_Answers(sasl_kit.ClientOptions()), server)


class _Finished(ClientMechanism):
    """A client-first mechanism that is done after its initial response."""

    name = "X-FINISHED"
    client_first = True

    def _step(self, data: bytes | None) -> bytes | None:
        self._finish()
        return b"hello"


def test_handshake_refuses_a_server_that_talks_after_the_client_ended() -> None:
    with pytest.raises(HandshakeMismatch, match="after the client ended"):
        handshake(_Finished(sasl_kit.ClientOptions()), _Chatty(_options()))


class _Gullible(ServerMechanism):
    """Takes a PLAIN message and accepts its user whatever the password."""

    name = "X-GULLIBLE"

    def _step(self, data: bytes | None) -> bytes | None:
        self._accept((data or b"").split(b"\0")[1].decode(), "")
        return None


class _Crashing(ServerMechanism):
    name = "X-CRASHING"

    def _step(self, data: bytes | None) -> bytes | None:
        raise ZeroDivisionError("a bug")


def _rows_by_what(registry: Registry = sasl_kit.default_registry) -> dict[str, tuple[Result, str]]:
    return {row.what: (row.result, row.detail) for row in run(registry)}


def test_run_passes_every_vector_and_handshake_of_the_default_registry() -> None:
    rows = _rows_by_what()
    assert {result for result, _ in rows.values()} <= {Result.OK, Result.SKIP}
    for vector_file in vectors.load_all():
        for vector in vector_file.vectors:
            assert any(vector["id"] in what for what in rows)
    for info in sasl_kit.default_registry:
        if info.client is not None and info.server is not None:
            assert rows[f"handshake {info.name}"][0] is Result.OK
            takes_secret = info.credential in ("password", "token")
            assert rows[f"handshake {info.name}, wrong password"][0] is (
                Result.OK if takes_secret else Result.SKIP
            )


def _vector_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **files: object) -> None:
    for name, doc in files.items():
        text = doc if isinstance(doc, str) else json.dumps(doc)
        (tmp_path / f"{name}.json").write_text(text, encoding="utf-8")
    monkeypatch.setattr(vectors, "vectors_dir", lambda: tmp_path)


def _cram_md5_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ROOT / "vectors" / "cram-md5.json").read_text("utf-8"))
    return doc


def test_run_reports_a_wrong_vector_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _cram_md5_doc()
    vector = doc["vectors"][0]
    vector["exchange"][-1]["text"] = vector["exchange"][-1]["text"].upper()
    _vector_dir(tmp_path, monkeypatch, cram=doc)
    rows = _rows_by_what()
    for side in ("client", "server"):
        result, detail = rows[f"vector {vector['id']} as {side}"]
        assert result is Result.FAIL and vector["id"] in detail
    assert rows["handshake CRAM-MD5"][0] is Result.OK


def test_run_skips_a_side_the_vector_does_not_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _cram_md5_doc()
    vector = doc["vectors"][0]
    vector["replay"] = ["server"]
    _vector_dir(tmp_path, monkeypatch, cram=doc)
    rows = _rows_by_what()
    assert rows[f"vector {vector['id']} as client"][0] is Result.SKIP
    assert rows[f"vector {vector['id']} as server"][0] is Result.OK


def test_run_reports_an_unreadable_vector_file_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _vector_dir(tmp_path, monkeypatch, broken="{")
    rows = _rows_by_what()
    assert rows["vector files"][0] is Result.FAIL and "broken.json" in rows["vector files"][1]
    assert rows["handshake PLAIN"][0] is Result.OK


def test_run_fails_a_vector_of_unknown_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _cram_md5_doc()
    doc["kind"] = "exchanges"
    _vector_dir(tmp_path, monkeypatch, cram=doc)
    assert _rows_by_what()[f"vector {doc['vectors'][0]['id']}"] == (
        Result.FAIL,
        "unknown kind 'exchanges'",
    )


def test_run_fails_a_server_that_accepts_a_wrong_password_or_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _vector_dir(tmp_path, monkeypatch)
    plain = next(info for info in BUILTINS if info.name == "PLAIN")
    registry = Registry(
        [
            MechanismInfo("X-GULLIBLE", plain.client, _Gullible, strength=2),
            MechanismInfo("X-CRASHING", plain.client, _Crashing, strength=1),
            MechanismInfo("X-CLIENT-ONLY", plain.client, None, strength=0),
        ]
    )
    assert _rows_by_what(registry) == {
        "handshake X-GULLIBLE": (Result.OK, "0 round trips, authenticated 'selftest'"),
        "handshake X-GULLIBLE, wrong password": (
            Result.FAIL,
            "HandshakeMismatch: server accepted a wrong password",
        ),
        "handshake X-CRASHING": (Result.FAIL, "ZeroDivisionError: a bug"),
        "handshake X-CRASHING, wrong password": (Result.FAIL, "ZeroDivisionError: a bug"),
    }
