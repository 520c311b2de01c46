"""``ClientSession.send_many`` step by step, against a scripted server in this process.

No socket here: ``drive`` plays the driver and ``Scripted`` the server, which
answers each message's commands from its script (the message's sender names
its script). Hypothesis draws the scripts and a point where the server hangs
up, and holds ``send_many`` to ``send``: the same bytes on the wire, the same
result for each message, fewer round trips, and after a hang-up no result
"sent" that the server did not confirm.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit.smtp.data import OutgoingMessage
from sasl_kit.smtp.errors import BatchStopped, ConnectionFailed, OutcomeUnknown
from sasl_kit.smtp.results import SendResult, Status
from sasl_kit.smtp.session import ClientSession, Connect, Recv, Write
from tests.smtp.fakes import Message

RCPTS = ("b@example.org", "c@example.org")


@dataclass(frozen=True)
class Script:
    """One message's replies: to MAIL, to each RCPT, to DATA, to its end of data."""

    mail: int = 250
    rcpts: tuple[int, ...] = (250, 250)
    data: int = 354
    final: int = 250


class Scripted:
    """A server that answers from scripts, reads pipelined input whole, and may hang up
    at ``hang_up``: ``("MAIL", i)`` on message i's MAIL, ``("final", i)`` after its data."""

    def __init__(self, scripts: list[Script], hang_up: tuple[str, int] | None = None) -> None:
        self.scripts, self.hang_up = scripts, hang_up
        self.received = bytearray()
        self.delivered: list[int] = []  # messages whose final reply was 2xx
        self.out = bytearray(b"220 scripted\r\n")
        self.gone = False
        self._buffer = b""
        self._current = -1
        self._rcpt = 0
        self._data: bytes | None = None  # the data of the message in DATA, while it comes

    def feed(self, data: bytes) -> None:
        self.received += data
        self._buffer += data
        while not self.gone and b"\r\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\r\n", 1)
            if self._data is not None:
                self._data_line(line)
            else:
                self._command(line.decode())

    def read(self) -> bytes:
        out, self.out = bytes(self.out), bytearray()
        return out

    def _reply(self, code: int) -> None:
        self.out += f"{code} {'go ahead' if code == 354 else 'scripted'}\r\n".encode()

    def _command(self, line: str) -> None:
        verb = line.split(" ", 1)[0]
        if verb == "EHLO":
            self.out += b"250-scripted\r\n250 PIPELINING\r\n"
        elif verb == "MAIL":
            self._current, self._rcpt = int(line.split("<m", 1)[1].split("@", 1)[0]), 0
            if self.hang_up == ("MAIL", self._current):
                self.gone = True
                return
            self._reply(self.scripts[self._current].mail)
        elif verb == "RCPT":
            self._reply(self.scripts[self._current].rcpts[self._rcpt])
            self._rcpt += 1
        elif verb == "DATA":
            code = self.scripts[self._current].data
            self._reply(code)
            self._data = b"" if code == 354 else None
        elif verb == "RSET":
            self._reply(250)
        elif verb == "QUIT":
            self._reply(221)
            self.gone = True
        else:
            self._reply(500)

    def _data_line(self, line: bytes) -> None:
        assert self._data is not None
        if line != b".":
            self._data += line + b"\r\n"
            return
        self._data = None
        if self.hang_up == ("final", self._current):
            self.gone = True
            return
        script = self.scripts[self._current]
        if script.final // 100 == 2 and script.mail // 100 == 2 and 250 in script.rcpts:
            self.delivered.append(self._current)
        self._reply(script.final)


def number(message: OutgoingMessage) -> int:
    return int(message.sender.split("@")[0][1:])


def message(i: int) -> Message:
    return Message(f"m{i}@example.org", RCPTS, f"Subject: {i}\r\n\r\n.dot {i}\r\n".encode())


@dataclass
class Run:
    value: Any = None
    error: BaseException | None = None
    writes: int = 0
    turns: int = 0  # writes followed by a read: round trips


def drive(steps: Generator[Any, Any, Any], server: Scripted, run: Run) -> Run:
    """Perform ``steps`` against ``server``: a Recv with nothing to read would block for ever."""
    answer: bytes | str = b""
    wrote = False
    try:
        step = next(steps)
        while True:
            if isinstance(step, Connect):
                answer = "127.0.0.1"
            elif isinstance(step, Write):
                server.feed(bytes(step.data))
                run.writes, wrote, answer = run.writes + 1, True, b""
            else:
                assert isinstance(step, Recv)
                answer = server.read()
                assert answer or server.gone, "the client waits for a reply that is not coming"
                run.turns, wrote = run.turns + wrote, False
            step = steps.send(answer)
    except StopIteration as done:
        run.value = done.value
    except (BatchStopped, OutcomeUnknown, ConnectionFailed) as exc:
        run.error = exc
    return run


def opened(server: Scripted) -> ClientSession:
    session = ClientSession("scripted.test", 25, tls="none")
    assert drive(session.opening(), server, Run()).error is None
    return session


def test_the_end_of_the_data_and_the_next_envelope_are_one_write() -> None:
    server = Scripted([Script()] * 2)
    session = opened(server)
    steps = session.send_many([message(0), message(1)])
    writes = []
    step, answer = next(steps), b""
    with pytest.raises(StopIteration) as done:
        while True:
            if isinstance(step, Write):
                writes.append(bytes(step.data))
                server.feed(writes[-1])
                answer = b""
            else:
                answer = server.read()
            step = steps.send(answer)
    assert [r.status for r in done.value.value] == [Status.SENT] * 2
    envelope = (
        b"MAIL FROM:<m1@example.org>\r\n"
        b"RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
    )
    assert writes == [
        envelope.replace(b"m1@", b"m0@"),
        b"Subject: 0\r\n\r\n..dot 0\r\n.\r\n" + envelope,  # RFC 2920 3.1: data, then the group
        b"Subject: 1\r\n\r\n..dot 1\r\n.\r\n",
    ]


def test_each_message_has_the_rows_of_its_own_recipients_and_replies() -> None:
    # Messages whose replies, then addresses, change from one to the next: each result's
    # rows are its own message's.
    scripts = [Script(), Script(), Script(rcpts=(550, 250)), Script(rcpts=(250, 451)), Script()]
    messages = [message(i) for i in range(len(scripts))]
    scripts.append(Script())
    messages.append(Message("m5@example.org", ("d@example.org", "e@example.org"), b"x\r\n"))
    server = Scripted(scripts)
    session = opened(server)

    def each() -> Generator[Any, Any, list[SendResult]]:
        results = []
        for m in messages:
            results.append((yield from session.send(m)))
        return results

    results = drive(each(), server, Run()).value
    assert [[(r.address, r.code) for r in result.recipients] for result in results] == [
        [*zip(m.recipients, s.rcpts, strict=True)] for m, s in zip(messages, scripts, strict=True)
    ]
    assert [result.status for result in results] == [
        Status.SENT, Status.SENT, Status.PARTIAL, Status.PARTIAL, Status.SENT, Status.SENT
    ]  # fmt: skip


CODES = st.sampled_from([250, 250, 250, 451, 550])
SCRIPTS = st.builds(
    Script,
    mail=CODES,
    rcpts=st.tuples(CODES, CODES),
    data=st.sampled_from([354, 354, 354, 451, 554]),
    final=CODES,
)


def one_by_one(session: ClientSession, count: int) -> Generator[Any, Any, list[SendResult]]:
    results = []
    for i in range(count):
        results.append((yield from session.send(message(i))))
    return results


@settings(max_examples=150, deadline=None)
@given(scripts=st.lists(SCRIPTS, min_size=1, max_size=6))
def test_a_batch_puts_sends_bytes_on_the_wire_and_gets_its_results_in_fewer_turns(
    scripts: list[Script],
) -> None:
    alone, together = Scripted(scripts), Scripted(scripts)
    expected = drive(one_by_one(opened(alone), len(scripts)), alone, Run())
    got = drive(
        opened(together).send_many(message(i) for i in range(len(scripts))), together, Run()
    )
    assert got.error is None and got.value == expected.value
    assert together.received == alone.received
    # One round trip saved for each message whose data went and had a message after it.
    with_data = [s.mail // 100 == 2 and 250 in s.rcpts and s.data == 354 for s in scripts]
    assert expected.turns - got.turns == sum(with_data[:-1])


@settings(max_examples=200, deadline=None)
@given(
    scripts=st.lists(SCRIPTS, min_size=1, max_size=6),
    hang_up=st.tuples(st.sampled_from(["MAIL", "final"]), st.integers(min_value=0, max_value=5)),
)
def test_a_hang_up_anywhere_leaves_no_result_sent_the_server_did_not_confirm(
    scripts: list[Script], hang_up: tuple[str, int]
) -> None:
    server = Scripted(scripts, hang_up)
    taken: list[int] = []

    def messages() -> Generator[Message, None, None]:
        for i in range(len(scripts)):
            taken.append(i)
            yield message(i)

    run = drive(opened(server).send_many(messages()), server, Run())
    results: list[SendResult] = run.value
    if run.error is not None:
        assert isinstance(run.error, BatchStopped)
        results, unsent = run.error.results, run.error.unsent
        # Every message taken is accounted for, in order; an unknown one comes last.
        assert [*range(len(results)), *[number(m) for m in unsent]] == taken
        statuses = [r.status for r in results]
        assert Status.UNKNOWN not in statuses[:-1]
        assert isinstance(run.error.error, OutcomeUnknown) == (statuses[-1:] == [Status.UNKNOWN])
    # Sent is what the server confirmed with its final reply, nothing more or less.
    assert [i for i, r in enumerate(results) if r.sent] == server.delivered
