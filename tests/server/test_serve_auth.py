"""AUTH on ``sasl-kit serve``: names in any case, the OAuth error acknowledgement, throttling.

Expected replies: RFC 4954 (535 5.7.8, 501 for ``*``), RFC 7628 3.2.3 (the
error challenge, then failure), Dovecot's ``auth_failure_delay`` and Postfix's
error limit (issue 12: 421 4.7.0 after at most 10 failures).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

import sasl_kit
from sasl_kit.smtp_server import ServerConfig, Users
from tests.server.running import PASSWORD, USER, Serve, Wire

WRONG = base64.b64encode(f"\0{USER}\0wrong".encode()).decode()
RIGHT = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
OAUTHBEARER = b"n,a=alice,\x01auth=Bearer bad-token\x01\x01"
XOAUTH2 = b"user=alice\x01auth=Bearer bad-token\x01\x01"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("name", ["plain", "Plain", "pLaIn"])
def test_a_mechanism_name_matches_in_any_case(serve: Serve, name: str) -> None:
    with serve.wire() as wire:
        wire.start()
        assert wire.command(f"AUTH {name} {RIGHT}").startswith("235 ")


def test_a_lower_case_name_runs_a_whole_challenge_exchange(serve: Serve) -> None:
    client = sasl_kit.client("SCRAM-SHA-256", username=USER, password=PASSWORD)
    with serve.wire() as wire:
        wire.start()
        reply = wire.command(f"auth scram-sha-256 {_b64(client.step(None) or b'')}")
        while reply.startswith("334 "):
            reply = wire.command(_b64(client.step(base64.b64decode(reply[4:])) or b""))
        assert reply.startswith("235 ")
    assert client.complete


@pytest.mark.parametrize(
    ("mechanism", "initial", "acknowledgement"),
    [
        ("OAUTHBEARER", OAUTHBEARER, b""),  # what msmtp sends (issue 12)
        ("OAUTHBEARER", OAUTHBEARER, b"\x01"),  # RFC 7628 3.2.3
        ("XOAUTH2", XOAUTH2, b""),  # Google's: an empty response
    ],
)
def test_an_oauth_error_is_acknowledged_by_an_empty_line_or_x01_then_535(
    serve: Serve, mechanism: str, initial: bytes, acknowledgement: bytes
) -> None:
    with serve.wire() as wire:
        wire.start()
        challenge = wire.command(f"AUTH {mechanism} {_b64(initial)}")
        assert challenge.startswith("334 ")
        assert "status" in json.loads(base64.b64decode(challenge[4:]))  # the JSON error
        line = _b64(acknowledgement).encode() if acknowledgement else b""
        assert wire.command(line) == "535 5.7.8 Authentication credentials invalid"
        assert wire.command("NOOP").startswith("250 ")
        wire.login()


def test_an_empty_line_answering_the_empty_challenge_is_still_a_malformed_response(
    serve: Serve,
) -> None:
    with serve.wire() as wire:
        wire.start()
        assert wire.command("AUTH OAUTHBEARER") == "334 "  # RFC 4422 3.3: initial response?
        assert wire.command("").startswith("501 ")


def _fail(wire: Wire) -> tuple[str, float]:
    began = time.monotonic()
    reply = wire.command(f"AUTH PLAIN {WRONG}")
    return reply, time.monotonic() - began


def test_each_failed_auth_is_answered_after_the_configured_delay(slow_serve: Serve) -> None:
    with slow_serve.wire() as wire:
        wire.start()
        for _ in range(2):
            reply, seconds = _fail(wire)
            assert reply.startswith("535 ")
            assert seconds >= 1.0  # --auth-failure-delay 1
        began = time.monotonic()
        assert wire.command("AUTH PLAIN *").startswith("501 ")  # cancelled: a failure too
        assert time.monotonic() - began >= 1.0
        wire.login()  # the right password still works


def test_the_tenth_failed_auth_on_a_connection_is_421_and_the_connection_closes(
    serve: Serve,
) -> None:
    with serve.wire() as wire:
        wire.start()
        replies = [_fail(wire)[0] for _ in range(10)]
        assert all(r.startswith("535 5.7.8 ") for r in replies[:9]), replies
        assert replies[9].startswith("421 4.7.0 "), replies[9]
        assert wire.closed()
    assert "10 failed AUTH, closing the connection" in serve.log_text()


def test_failures_are_counted_per_connection(serve: Serve) -> None:
    for _ in range(2):
        with serve.wire() as wire:
            wire.start()
            assert all(_fail(wire)[0].startswith("535 ") for _ in range(6))


@pytest.mark.parametrize(
    ("host", "delay"),
    [("127.0.0.1", 0.0), ("::1", 0.0), ("localhost", 0.0), ("192.0.2.1", 2.0), ("mx.test", 2.0)],
)
def test_the_default_failure_delay_is_dovecots_2_s_except_on_loopback(
    tmp_path: Path, host: str, delay: float
) -> None:
    config = ServerConfig(users=Users.from_passwords({}), maildir=tmp_path, host=host)
    assert config.failure_delay == delay
