"""The sans-I/O session on its own: steps asked for, and what a failed step means.

No socket here: each test plays the driver, answering the session's steps or
throwing a step's exception into it, as ``SMTPClient`` and ``AsyncSMTPClient`` do.
"""

from __future__ import annotations

import re

import pytest

from sasl_kit.smtp.errors import ConnectionFailed
from sasl_kit.smtp.session import RECV, ClientSession, Connect, Write


def opened(greeting: bytes = b"220 ready\r\n") -> ClientSession:
    """A session past its greeting and EHLO."""
    session = ClientSession("mx.test", 25, tls="none")
    steps = session.opening()
    assert next(steps) == Connect("mx.test", 25)
    assert steps.send("127.0.0.1") is RECV
    ehlo = steps.send(greeting)
    assert isinstance(ehlo, Write) and bytes(ehlo.data) == b"EHLO [127.0.0.1]\r\n"
    assert steps.send(b"") is RECV
    with pytest.raises(StopIteration):
        steps.send(b"250 mx.test\r\n")
    return session


def test_the_opening_asks_for_connect_read_write_read() -> None:
    session = opened()
    assert session.open and not session.encrypted


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (TimeoutError(), "timed out"),
        (ConnectionRefusedError(111, "refused"), "[Errno 111] refused"),
    ],
)
def test_a_connect_that_fails_names_why(exc: OSError, text: str) -> None:
    """asyncio's timeout has no text of its own: the message says "timed out"."""
    steps = ClientSession("mx.test", 25, tls="none").opening()
    next(steps)
    with pytest.raises(
        ConnectionFailed, match=rf"^cannot connect to mx\.test:25: {re.escape(text)}$"
    ):
        steps.throw(exc)


def test_a_failed_step_ends_the_session_which_quit_forgives() -> None:
    session = opened()
    steps = session.quit()
    assert isinstance(next(steps), Write)
    with pytest.raises(StopIteration):  # QUIT: a lost link is no error
        steps.throw(TimeoutError())
    assert not session.open
    steps = ClientSession("mx.test", 25, tls="none").opening()
    next(steps)
    steps.send("127.0.0.1")
    with pytest.raises(ConnectionFailed, match="lost waiting for the reply to the greeting"):
        steps.throw(ConnectionResetError(104, "reset"))


def test_an_interrupt_during_a_step_ends_the_session() -> None:
    session = opened()
    steps = session.check_envelope("a@example.org", ["b@example.org"])
    assert isinstance(next(steps), Write)
    with pytest.raises(KeyboardInterrupt):
        steps.throw(KeyboardInterrupt())
    assert not session.open  # the driver now closes its connection
