"""Limits of ``sasl-kit serve``: the idle timeout and the number of open connections.

Expected replies as issue 12 asks them, after Postfix: ``421 4.4.2`` on the
idle timeout (``smtpd_timeout``), ``421 4.3.2`` past ``--max-connections``.
Timings are only lower bounds, from the configured timeout.
"""

from __future__ import annotations

import time

from tests.server.running import Serve, Wire


def test_an_idle_client_gets_421_4_4_2_after_the_timeout_and_is_closed(idle_serve: Serve) -> None:
    began = time.monotonic()  # before connecting: the server's clock starts at the connection
    with idle_serve.wire() as wire:
        assert wire.reply().startswith("220 ")
        reply = wire.reply()
        assert time.monotonic() - began >= 1.0  # --idle-timeout 1
        assert reply.startswith("421 4.4.2 "), reply
        assert wire.closed()


def test_the_idle_timeout_applies_under_tls_too(idle_serve: Serve) -> None:
    with idle_serve.wire() as wire:
        wire.start()
        assert wire.reply().startswith("421 4.4.2 ")
        assert wire.closed()


def test_each_line_of_a_slow_message_restarts_the_idle_timeout(idle_serve: Serve) -> None:
    with idle_serve.wire() as wire:
        wire.start()
        wire.login()
        wire.data()
        began = time.monotonic()
        for n in range(8):  # 1.6 s in all, each line well within the 1 s timeout
            wire.send(b"line %d\r\n" % n)
            time.sleep(0.2)
        wire.send(b".\r\n")
        assert wire.reply().startswith("250 ")
        assert time.monotonic() - began >= 1.0


def test_past_max_connections_a_client_gets_421_4_3_2_and_later_ones_get_in_again(
    small_serve: Serve,
) -> None:
    first = _admitted(small_serve)
    second = _admitted(small_serve)
    try:
        with small_serve.wire() as third:
            assert third.reply().startswith("421 4.3.2 ")
            assert third.closed()
        assert second.command("NOOP").startswith("250 ")  # the others go on
        second.command("QUIT")
        second.close()
        _admitted(small_serve).close()
    finally:
        first.close()
        second.close()
    assert "connections open already" in small_serve.log_text()


def _admitted(server: Serve) -> Wire:
    """A connection that got the greeting, retried while closed ones still count.

    The server frees a place when it sees a client's close, a moment after it.
    """
    deadline = time.monotonic() + 20
    while True:
        wire = Wire(server)
        greeting = wire.reply()
        if greeting.startswith("220 "):
            return wire
        wire.close()
        assert greeting.startswith("421 4.3.2 ") and time.monotonic() < deadline, greeting
        time.sleep(0.05)
