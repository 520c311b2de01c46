"""A batch over one connection (``send_many``): one round trip per message with
PIPELINING and DATA (RFC 2920 3.1), each message's result as ``send`` gives it,
and what a batch that stops says about every message it took."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sasl_kit import UsageError
from sasl_kit.errors import MessageError
from sasl_kit.smtp import DSN, SMTPClient, Status
from sasl_kit.smtp.errors import BatchStopped, ConnectionFailed, OutcomeUnknown
from sasl_kit.smtp.results import SendResult
from tests.smtp.fakes import Behaviour, FakeSMTPServer, Message
from tests.smtp.test_send import Breaking

TWO = ("b@example.org", "c@example.org")
NOBODY = "nobody@example.org"


def batch(n: int, to: tuple[str, ...] = TWO) -> list[Message]:
    return [
        Message("a@example.org", to, f"Subject: {i}\r\n\r\nmessage {i}\r\n".encode())
        for i in range(n)
    ]


def client(server: FakeSMTPServer, lines: list[str] | None = None) -> SMTPClient:
    return SMTPClient(
        "127.0.0.1",
        server.port,
        tls="none",
        timeout=3,
        transcript=None if lines is None else lines.append,
    )


def verbs(server: FakeSMTPServer) -> list[str]:
    return [c.split(" ")[0] for c in server.commands if c.split(" ")[0].isupper()]


def test_the_next_envelope_goes_before_the_final_reply_is_read() -> None:
    # hold_final=2: the final replies to the first two messages wait until the next
    # MAIL has arrived; a client that waited for them would time out.
    messages = batch(3)
    with FakeSMTPServer(Behaviour(hold_final=2)) as server, client(server) as smtp:
        results = smtp.send_many(messages)
    assert [r.status for r in results] == [Status.SENT] * 3
    assert all(r.accepted == TWO and r.code == 250 for r in results)
    assert verbs(server) == ["EHLO", *["MAIL", "RCPT", "RCPT", "DATA"] * 3, "QUIT"]
    assert server.messages == [m.body for m in messages]


def test_the_transcript_shows_the_data_then_the_next_envelope_then_the_replies() -> None:
    lines: list[str] = []
    with FakeSMTPServer(Behaviour()) as server, client(server, lines) as smtp:
        start = len(lines)
        smtp.send_many(batch(2, ("b@example.org",)))
    said = [line.split(" ")[1] if line.startswith("C: ") else line[:6] for line in lines[start:]]
    assert said[:6] == ["MAIL", "RCPT", "DATA", "S: 250", "S: 250", "S: 354"]
    assert said[6:13] == ["<message", "MAIL", "RCPT", "DATA", "S: 250", "S: 250", "S: 250"]
    assert said[13:16] == ["S: 354", "<message", "S: 250"]


@pytest.mark.parametrize(
    "extensions", [(), ("CHUNKING",), ("CHUNKING", "PIPELINING")], ids=["lockstep", "bdat", "both"]
)
def test_without_pipelined_data_each_message_goes_as_send_sends_it(
    extensions: tuple[str, ...],
) -> None:
    messages = batch(3)
    with FakeSMTPServer(Behaviour(extensions=extensions)) as server, client(server) as smtp:
        results = smtp.send_many(messages)
    assert [r.status for r in results] == [Status.SENT] * 3
    assert server.messages == [m.body for m in messages]


@pytest.mark.parametrize("extensions", [("PIPELINING",), ()], ids=["pipelining", "lockstep"])
def test_a_refused_envelope_has_its_result_and_leaves_the_others_alone(
    extensions: tuple[str, ...],
) -> None:
    behaviour = Behaviour(extensions=extensions, rcpt_replies={NOBODY: "550 5.1.1 no such user"})
    first, _, third = batch(3)
    refused = Message("a@example.org", (NOBODY,), b"refused\r\n")
    partial = Message("a@example.org", (NOBODY, "b@example.org"), b"partial\r\n")
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        results = smtp.send_many([first, refused, third, partial])
    assert [r.status for r in results] == [
        Status.SENT,
        Status.REJECTED,
        Status.SENT,
        Status.PARTIAL,
    ]
    assert results[1].recipients[0].code == 550 and results[1].text == "no recipient was accepted"
    assert results[3].accepted == ("b@example.org",)
    # RFC 2920 3.1: the pipelined DATA got 354 and is ended with an empty message.
    empty = [b""] if extensions else []
    assert server.messages == [first.body, *empty, third.body, partial.body]
    assert verbs(server).count("RSET") == 1  # before the message after the refused one


@pytest.mark.parametrize(
    ("behaviour", "status", "code", "resets"),
    [
        # A final reply ends the transaction whatever it says: no RSET after it.
        (Behaviour(final_reply="554 5.6.0 spam"), Status.REJECTED, 554, 0),
        (Behaviour(final_reply="452 4.3.1 full"), Status.TEMPORARY, 452, 0),
        (Behaviour(mail_reply="451 4.3.0 later"), Status.TEMPORARY, 451, 2),
        (Behaviour(data_reply="554 5.5.1 no valid recipients"), Status.REJECTED, 554, 2),
    ],
)
def test_each_message_of_a_batch_gets_the_refusal_send_would_report(
    behaviour: Behaviour, status: Status, code: int, resets: int
) -> None:
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        results = smtp.send_many(batch(3))
    assert [(r.status, r.code) for r in results] == [(status, code)] * 3
    assert verbs(server).count("RSET") == resets


def test_a_message_refused_here_goes_nowhere_and_the_batch_goes_on() -> None:
    messages = batch(3)
    messages[1] = Message("jörg@example.org", TWO, b"needs SMTPUTF8\r\n")
    with FakeSMTPServer(Behaviour()) as server, client(server) as smtp:
        results = smtp.send_many(messages)
    assert [r.status for r in results] == [Status.SENT, Status.REJECTED, Status.SENT]
    assert results[1].local and "SMTPUTF8" in results[1].text
    assert server.messages == [messages[0].body, messages[2].body]
    assert verbs(server).count("MAIL") == 2


def stopped_by(behaviour: Behaviour, messages: list[Message]) -> tuple[BatchStopped, list[bytes]]:
    """The ``BatchStopped`` of a batch sent to a server that hangs up, and what it received."""
    with FakeSMTPServer(behaviour) as server:
        smtp = client(server)
        with smtp, pytest.raises(BatchStopped) as caught:
            smtp.send_many(messages)
    assert caught.value.__cause__ is caught.value.error
    return caught.value, server.messages


def test_a_link_lost_before_a_final_reply_stops_the_batch_with_that_one_unknown() -> None:
    messages = batch(4)
    stopped, received = stopped_by(Behaviour(drop="final#2"), messages)
    assert isinstance(stopped.error, OutcomeUnknown) and not isinstance(stopped, ConnectionFailed)
    assert [r.status for r in stopped.results] == [Status.SENT, Status.UNKNOWN]
    assert stopped.results[1] == stopped.error.result and not stopped.results[1].sent
    # The third message's envelope went with the second's data: not sent, nothing of it
    # delivered; the fourth was never taken.
    assert stopped.unsent == (messages[2],)
    assert received == [messages[0].body, messages[1].body]


def test_a_link_lost_at_the_next_envelope_keeps_the_result_before_it() -> None:
    messages = batch(3)
    stopped, received = stopped_by(Behaviour(drop="MAIL#2"), messages)
    assert isinstance(stopped.error, ConnectionFailed)
    assert [r.status for r in stopped.results] == [Status.SENT]
    assert stopped.unsent == (messages[1],)
    assert received == [messages[0].body]


def test_a_message_that_raises_before_mail_stops_the_batch_on_a_clean_session() -> None:
    first, _, third = batch(3)
    with FakeSMTPServer(Behaviour()) as server, client(server) as smtp:
        empty = Message("a@example.org", (), b"x\r\n")
        with pytest.raises(BatchStopped, match="at least one recipient") as caught:
            smtp.send_many([first, empty, third])
        assert isinstance(caught.value.error, UsageError)
        assert [r.status for r in caught.value.results] == [Status.SENT]
        assert caught.value.unsent == (empty,)
        assert smtp.send(third).sent  # the session goes on, as after send's UsageError
    assert server.messages == [first.body, third.body]


def test_a_failure_inside_the_data_closes_the_connection_and_names_the_messages_left() -> None:
    first, _, third = batch(3)
    breaking = Breaking("a@example.org", TWO, b"first part\r\n")
    with FakeSMTPServer(Behaviour()) as server, client(server) as smtp:
        with pytest.raises(BatchStopped, match="changed since compose") as caught:
            smtp.send_many([first, breaking, third])
        assert isinstance(caught.value.error, MessageError)
        assert caught.value.unsent == (breaking, third)
        with pytest.raises(UsageError, match="not connected"):
            smtp.send(third)
    assert server.messages == [first.body]


def test_a_generator_is_taken_at_most_one_message_ahead_and_on_result_sees_each() -> None:
    seen: list[tuple[Message, SendResult]] = []
    ahead: list[int] = []

    def messages() -> Iterator[Message]:
        for message in batch(4):
            ahead.append(len(ahead) - len(seen))  # messages taken and not decided yet
            yield message

    with FakeSMTPServer(Behaviour()) as server, client(server) as smtp:
        results = smtp.send_many(messages(), on_result=lambda m, r: seen.append((m, r)))
    assert max(ahead) <= 1
    assert [r for _, r in seen] == results and len(results) == 4
    assert [m.body for m, _ in seen] == server.messages


@pytest.mark.parametrize("pipelining", [True, False])
def test_an_on_result_that_raises_stops_the_batch(pipelining: bool) -> None:
    # With PIPELINING the next envelope's replies are unread when it raises: the
    # connection is closed. In lockstep nothing is pending, and the session goes on.
    def refuse(message: Message, result: SendResult) -> None:
        raise LookupError("the caller's bookkeeping failed")

    first, second = batch(2)
    behaviour = Behaviour(extensions=("PIPELINING",) if pipelining else ())
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        with pytest.raises(BatchStopped, match="bookkeeping") as caught:
            smtp.send_many([first, second], on_result=refuse)
        assert isinstance(caught.value.error, LookupError)
        assert [r.status for r in caught.value.results] == [Status.SENT]
        assert caught.value.unsent == ((second,) if pipelining else ())
        if pipelining:
            with pytest.raises(UsageError, match="not connected"):
                smtp.send(second)
        else:
            assert smtp.send(second).sent
    assert server.messages == ([first.body] if pipelining else [first.body, second.body])


def test_an_empty_batch_says_nothing_and_dsn_options_go_with_every_message() -> None:
    with (
        FakeSMTPServer(Behaviour(extensions=("PIPELINING", "DSN"))) as server,
        client(server) as smtp,
    ):
        assert smtp.send_many([]) == [] and smtp.send_many(iter(())) == []
        assert verbs(server) == ["EHLO"]
        results = smtp.send_many(batch(2), dsn=DSN(ret="HDRS", notify=("FAILURE",)))
    assert [r.status for r in results] == [Status.SENT] * 2
    mails = [c for c in server.commands if c.startswith(("MAIL", "RCPT"))]
    assert mails[0].endswith(" RET=HDRS") and mails[3].endswith(" RET=HDRS")
    assert all(c.endswith(" NOTIFY=FAILURE") for c in mails if c.startswith("RCPT"))
