"""Every random or clock input of every client mechanism can be fixed (issue 11, item 5).

A published or recorded exchange can be replayed offline only when the client's
messages depend on nothing but its options and the server's challenges. For each
client mechanism, ``FIXED`` names the options that fix its inputs (documented on
its page in docs/mechanisms/); with them, a second client fed the challenges the
first one got sends the same bytes although the clock moved and ``secrets`` drew
again; without them, the mechanisms that have such inputs send different bytes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from pathlib import Path

import pytest

import sasl_kit
from sasl_kit.channel_binding import ChannelBinding
from sasl_kit.cli import main
from sasl_kit.mechanisms import ntlm
from sasl_kit.mechanisms.oauth import TokenTable

PASSWORD = "Sëcret-pässword-42"
TOKEN = base64.b64encode(PASSWORD.encode()).decode()
BINDING = ChannelBinding("tls-exporter", bytes(range(32)))
SCRAM = {"cnonce": "rOprNGfwEbeRWgbNEkqO"}  # RFC 7677 3's client nonce
FIXED: dict[str, dict[str, str]] = {
    "DIGEST-MD5": {"cnonce": "OA6MHXh6VqTrRk"},  # RFC 2831 4's cnonce
    "NTLM": {"cnonce": "aaaaaaaaaaaaaaaa", "timestamp": "0000000000000000"},  # MS-NLMP 4.2.1
    **{info.name: SCRAM for info in sasl_kit.default_registry if info.name.startswith("SCRAM-")},
}
"""The options that fix a client's random and clock inputs; a mechanism not named has none."""
CLIENTS = [info.name for info in sasl_kit.default_registry if info.client is not None]
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "ntlm.json"


def _client(name: str, **fixed: str) -> sasl_kit.ClientMechanism:
    return sasl_kit.client(
        name, username="alice", password=PASSWORD, host="mail.example.org", token=TOKEN,
        channel_binding=BINDING, server_offers_plus=True, **fixed,
    )  # fmt: skip


def _server(name: str) -> sasl_kit.ServerMechanism:
    return sasl_kit.server(
        name, {"alice": PASSWORD}, host="mail.example.org", channel_binding=BINDING,
        validate_token=TokenTable({"alice": TOKEN}), external_identity="alice",
    )  # fmt: skip


def _against_server(client: sasl_kit.ClientMechanism, name: str) -> tuple[list[bytes], list[bytes]]:
    """The client's messages and the server's challenges of one successful exchange."""
    server = _server(name)
    sent: list[bytes] = []
    received: list[bytes] = []
    out = client.step(b"") if client.client_first else None
    if out is not None:
        sent.append(out)
    while not server.complete:
        challenge = server.step(out) or b""
        if server.complete and not challenge:
            break
        received.append(challenge)
        out = client.step(challenge) or b""
        sent.append(out)
    return sent, received


def _replayed(client: sasl_kit.ClientMechanism, received: list[bytes]) -> list[bytes]:
    sent = [client.step(b"") or b""] if client.client_first else []
    return sent + [client.step(challenge) or b"" for challenge in received]


def _clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setattr(time, "time", lambda: seconds)


@pytest.mark.parametrize("name", CLIENTS)
def test_with_its_inputs_fixed_a_client_repeats_itself_byte_for_byte(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = FIXED.get(name, {})
    _clock(monkeypatch, 1_700_000_000.0)
    sent, received = _against_server(_client(name, **fixed), name)
    _clock(monkeypatch, 1_800_000_000.0)
    assert _replayed(_client(name, **fixed), received) == sent


@pytest.mark.parametrize("name", sorted(FIXED))
def test_without_them_the_same_challenges_get_other_bytes(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent, received = _against_server(_client(name), name)
    client, again = _client(name), []
    steps = ([b""] if client.client_first else []) + received
    # Up to the server's answer to the other nonce, which no longer fits (SCRAM's
    # combined nonce, DIGEST-MD5's rspauth): the messages before differ already.
    with contextlib.suppress(sasl_kit.SASLError):
        for challenge in steps:
            again.append(client.step(challenge) or b"")
    assert again != sent[: len(again)]


def _ms_nlmp_challenge() -> bytes:
    """MS-NLMP 4.2.4.3's CHALLENGE_MESSAGE: no MsvAvTimestamp, so the client's clock counts."""
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    (vector,) = (v for v in vectors if v["id"] == "ntlm-4.2.4.3-client-responds")
    return bytes.fromhex(vector["input"]["challenge"])


@pytest.mark.parametrize("timestamp", [None, "0000000000000000"])
def test_ntlm_against_a_server_without_a_timestamp_repeats_only_with_the_timestamp_fixed(
    timestamp: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = {"cnonce": "aaaaaaaaaaaaaaaa"} | ({} if timestamp is None else {"timestamp": timestamp})
    answers = []
    for seconds in (1_700_000_000.0, 1_800_000_000.0):
        _clock(monkeypatch, seconds)
        answers.append(_replayed(_client("NTLM", **fixed), [_ms_nlmp_challenge()]))
    assert (answers[0] == answers[1]) is (timestamp is not None)


@pytest.mark.parametrize("bad", ["", "00", "zz" * 8, "00" * 9])
def test_a_timestamp_that_is_not_eight_octets_of_hex_is_a_usage_error(bad: str) -> None:
    client = _client("NTLM", timestamp=bad)
    client.step(b"")
    with pytest.raises(sasl_kit.UsageError, match="timestamp must be 16 hex digits"):
        client.step(_ms_nlmp_challenge())


def test_sasl_kit_respond_replays_the_ms_nlmp_ntlmv2_exchange(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    (vector,) = (v for v in vectors if v["id"] == "ntlm-4.2.4.3-client-responds")
    given = vector["input"]
    status = main(
        [
            "respond", "NTLM", base64.b64encode(bytes.fromhex(given["challenge"])).decode(),
            "--username", f"{given['domain']}\\{given['user']}", "--password", given["password"],
            "--cnonce", given["client_challenge"], "--timestamp", given["time"],
        ]
    )  # fmt: skip
    _, authenticate = capsys.readouterr().out.split()
    sent = ntlm.parse_authenticate(base64.b64decode(authenticate))
    assert status == 0
    assert sent.lm_response.hex() == vector["expected"]["lm_response"]
    assert sent.nt_response.hex() == vector["expected"]["nt_response"]
