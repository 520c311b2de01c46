"""Sending: PIPELINING, per-recipient results, BDAT, DATA, SIZE, SMTPUTF8, 8BITMIME, DSN, RSET."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import pytest

from sasl_kit import UsageError
from sasl_kit.errors import MessageError
from sasl_kit.smtp import DSN, SMTPClient, Status
from sasl_kit.smtp.data import BDAT_CHUNK
from sasl_kit.smtp.errors import ConnectionFailed, OutcomeUnknown
from tests.smtp.fakes import Behaviour, FakeSMTPServer, Message

TWO = ("b@example.org", "c@example.org")
BODY = b"Subject: hi\r\n\r\n.leading dot\nbare LF\rbare CR\r\n"
ON_THE_WIRE = b"Subject: hi\r\n\r\n..leading dot\r\nbare LF\r\nbare CR\r\n"


@dataclass(frozen=True)
class Vouched(Message):
    """A message that vouches for CRLF-only data (``crlf_only``) and claims a size."""

    claimed: int | None = None
    crlf_only: ClassVar[bool] = True

    def size(self) -> int:
        return len(self.body) if self.claimed is None else self.claimed


@dataclass(frozen=True)
class Breaking(Message):
    """A message whose stream fails after its first chunk, as a changed file does."""

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        yield self.body
        raise MessageError("attachments[0]: /tmp/x changed since compose")


def client(server: FakeSMTPServer) -> SMTPClient:
    return SMTPClient("127.0.0.1", server.port, tls="none", timeout=3)


def verbs(server: FakeSMTPServer) -> list[str]:
    return [c.split(" ")[0] for c in server.commands]


def test_pipelining_sends_mail_rcpts_and_data_before_reading_a_reply() -> None:
    # group=3: the server answers nothing until RCPT, RCPT and DATA have arrived.
    with FakeSMTPServer(Behaviour(group=3)) as server, client(server) as smtp:
        result = smtp.send(Message("a@example.org", TWO, BODY))
    assert result.status is Status.SENT and result.sent
    assert result.accepted == TWO
    assert verbs(server) == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    assert server.messages == [ON_THE_WIRE]


def test_without_pipelining_each_command_waits_for_its_reply() -> None:
    with FakeSMTPServer(Behaviour(extensions=())) as server, client(server) as smtp:
        assert smtp.send(Message("a@example.org", TWO, BODY)).status is Status.SENT
    assert server.messages == [ON_THE_WIRE]
    assert "SIZE=" not in server.commands[1]


@pytest.mark.parametrize("extensions", [("PIPELINING",), ()])
def test_each_recipient_gets_its_own_result(extensions: tuple[str, ...]) -> None:
    behaviour = Behaviour(
        extensions=extensions, rcpt_replies={"c@example.org": "550 5.1.1 no such user"}
    )
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        result = smtp.send(Message("a@example.org", TWO, BODY))
    assert result.status is Status.PARTIAL and result.sent
    assert [(r.address, r.code, r.accepted) for r in result.recipients] == [
        ("b@example.org", 250, True),
        ("c@example.org", 550, False),
    ]
    assert result.refused[0].text == "5.1.1 no such user"


@pytest.mark.parametrize(
    ("behaviour", "status", "code"),
    [
        (Behaviour(mail_reply="451 4.3.0 later"), Status.TEMPORARY, 451),
        (Behaviour(mail_reply="553 5.1.8 bad sender"), Status.REJECTED, 553),
        (Behaviour(final_reply="452 4.3.1 full"), Status.TEMPORARY, 452),
        (Behaviour(final_reply="554 5.6.0 spam"), Status.REJECTED, 554),
        (Behaviour(data_reply="554 5.5.1 no valid recipients"), Status.REJECTED, 554),
        (
            Behaviour(rcpt_replies=dict.fromkeys(TWO, "450 4.2.0 greylisted")),
            Status.TEMPORARY,
            None,
        ),
        (
            Behaviour(rcpt_replies={TWO[0]: "550 5.1.1 no", TWO[1]: "451 4.3.0 later"}),
            Status.TEMPORARY,
            None,
        ),
        (Behaviour(rcpt_replies=dict.fromkeys(TWO, "550 5.1.1 no")), Status.REJECTED, None),
    ],
)
def test_refusals_are_results_with_temporary_or_permanent_status(
    behaviour: Behaviour, status: Status, code: int | None
) -> None:
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        result = smtp.send(Message("a@example.org", TWO, BODY))
    assert result.status is status and not result.sent
    assert result.code == code


def test_no_data_goes_out_when_no_recipient_was_accepted() -> None:
    behaviour = Behaviour(extensions=(), rcpt_replies=dict.fromkeys(TWO, "550 5.1.1 no"))
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        smtp.send(Message("a@example.org", TWO, BODY))
    assert "DATA" not in verbs(server)


def test_a_pipelined_data_answered_354_without_recipients_gets_an_empty_message() -> None:
    # RFC 2920 3.1: the client ends the DATA with "." alone and sends no content.
    behaviour = Behaviour(rcpt_replies=dict.fromkeys(TWO, "550 5.1.1 no"))
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        assert smtp.send(Message("a@example.org", TWO, BODY)).status is Status.REJECTED
    assert server.messages == [b""]


@pytest.mark.parametrize("pipelining", [True, False])
def test_bdat_sends_megabyte_chunks_without_dot_stuffing(pipelining: bool) -> None:
    extensions = ("CHUNKING", *(("PIPELINING",) if pipelining else ()))
    body = b".dot\n" * (BDAT_CHUNK // 4)  # a little more than one chunk after CRLF
    with FakeSMTPServer(Behaviour(extensions=extensions)) as server, client(server) as smtp:
        assert smtp.send(Message("a@example.org", TWO, body)).status is Status.SENT
    bdat = [c for c in server.commands if c.startswith("BDAT")]
    assert bdat == [f"BDAT {BDAT_CHUNK}", f"BDAT {len(body) // 5 * 6 - BDAT_CHUNK} LAST"]
    assert server.messages == [body.replace(b"\n", b"\r\n")]


@pytest.mark.parametrize("pipelining", [False, True])
def test_a_refused_bdat_chunk_ends_the_message_and_the_next_one_starts_with_rset(
    pipelining: bool,
) -> None:
    # With PIPELINING the second chunk is already sent when the refusal of the
    # first is read; its reply is read and dropped (RFC 3030 2), and no third goes.
    extensions = ("CHUNKING", *(("PIPELINING",) if pipelining else ()))
    behaviour = Behaviour(extensions=extensions, bdat_replies={1: "552 5.3.4 too big"})
    body = b"x" * (3 * BDAT_CHUNK + 10)
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        refused = smtp.send(Message("a@example.org", TWO, body))
        assert (refused.status, refused.code) == (Status.REJECTED, 552)
        assert smtp.send(Message("a@example.org", TWO, b"small")).status is Status.SENT
    sent = verbs(server)[1:]  # after EHLO
    chunks = 2 if pipelining else 1
    assert sent[: 3 + chunks] == ["MAIL", "RCPT", "RCPT", *["BDAT"] * chunks]
    assert sent[3 + chunks :] == ["RSET", "MAIL", "RCPT", "RCPT", "BDAT", "QUIT"]


def test_pipelined_bdat_reads_the_reply_before_last_first() -> None:
    # The reply to the chunk before LAST is read before LAST goes, so only the
    # final reply can ever be "outcome unknown".
    behaviour = Behaviour(extensions=("CHUNKING", "PIPELINING"), bdat_replies={2: "452 4.3.1 full"})
    body = b"x" * (2 * BDAT_CHUNK + 10)
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        refused = smtp.send(Message("a@example.org", TWO, body))
    assert (refused.status, refused.code) == (Status.TEMPORARY, 452)
    assert [c for c in server.commands if c.startswith("BDAT")] == [f"BDAT {BDAT_CHUNK}"] * 2


@pytest.mark.parametrize(
    ("length", "declared"),
    [
        (2 * BDAT_CHUNK + 10, [f"BDAT {BDAT_CHUNK}"] * 2 + ["BDAT 10 LAST"]),
        (2 * BDAT_CHUNK, [f"BDAT {BDAT_CHUNK}", f"BDAT {BDAT_CHUNK} LAST"]),  # no "BDAT 0 LAST"
    ],
)
def test_a_crlf_only_message_goes_in_chunks_declared_from_its_size(
    length: int, declared: list[str]
) -> None:
    body = b"y" * (length - 2) + b"\r\n"
    extensions = ("CHUNKING", "PIPELINING")
    with FakeSMTPServer(Behaviour(extensions=extensions)) as server, client(server) as smtp:
        assert smtp.send(Vouched("a@example.org", TWO, body)).status is Status.SENT
    assert [c for c in server.commands if c.startswith("BDAT")] == declared
    assert server.messages == [body]


@pytest.mark.parametrize(
    ("body", "claimed"),
    [
        (b"x" * (BDAT_CHUNK + 100) + b"\r\n", BDAT_CHUNK + 103),  # ends before its size
        (b"x" * (BDAT_CHUNK + 100) + b"\r\n", BDAT_CHUNK + 101),  # runs on past it
        (b"x" * 3000 + b"\r\n", 3001),  # the same, small enough to go with its envelope
    ],
    ids=["short", "long", "small"],
)
def test_a_message_that_misstates_its_size_is_never_accepted(body: bytes, claimed: int) -> None:
    extensions = ("CHUNKING", "PIPELINING")
    with FakeSMTPServer(Behaviour(extensions=extensions)) as server, client(server) as smtp:
        with pytest.raises(UsageError, match="size\\(\\) promised"):
            smtp.send(Vouched("a@example.org", TWO, body, claimed=claimed))
        if claimed > BDAT_CHUNK:  # part of it went out: only closing discards it
            with pytest.raises(UsageError, match="not connected"):
                smtp.send(Message("a@example.org", TWO, b"next\r\n"))
        else:  # read whole before anything was sent: the session goes on
            assert smtp.send(Message("a@example.org", TWO, b"next\r\n")).sent
            assert server.commands[0].startswith("EHLO") and server.commands[1].startswith("MAIL")
    assert server.messages == ([] if claimed > BDAT_CHUNK else [b"next\r\n"])


def test_bytes_where_size_promised_none_are_refused_before_anything_is_sent() -> None:
    extensions = ("CHUNKING", "PIPELINING")
    with (
        FakeSMTPServer(Behaviour(extensions=extensions)) as server,
        client(server) as smtp,
        pytest.raises(UsageError, match="size\\(\\) promised none"),
    ):
        smtp.send(Vouched("a@example.org", TWO, b"x\r\n", claimed=0))
    assert server.commands == ["EHLO [127.0.0.1]", "QUIT"]


@pytest.mark.parametrize("extensions", [("PIPELINING",), ("PIPELINING", "CHUNKING")])
def test_a_failure_inside_the_data_closes_the_connection(extensions: tuple[str, ...]) -> None:
    # Otherwise the next MAIL would land inside the half-sent message.
    with FakeSMTPServer(Behaviour(extensions=extensions)) as server, client(server) as smtp:
        with pytest.raises(MessageError, match="changed since compose"):
            smtp.send(Breaking("a@example.org", TWO, b"first part\r\n" * 100))
        with pytest.raises(UsageError, match="not connected"):
            smtp.send(Message("a@example.org", TWO, b"next\r\n"))
    assert server.messages == []


def test_an_empty_message_is_one_empty_bdat_last() -> None:
    with FakeSMTPServer(Behaviour(extensions=("CHUNKING",))) as server, client(server) as smtp:
        assert smtp.send(Message("a@example.org", TWO, b"")).status is Status.SENT
    assert "BDAT 0 LAST" in server.commands


def test_size_is_declared_and_an_oversized_message_is_refused_before_mail() -> None:
    with FakeSMTPServer(Behaviour(extensions=("SIZE 100",))) as server, client(server) as smtp:
        assert smtp.send(Message("a@example.org", TWO, b"x" * 100)).status is Status.SENT
        big = smtp.send(Message("a@example.org", TWO, b"x" * 101))
    assert big.status is Status.REJECTED and big.code is None
    assert "at most 100" in big.text
    assert [c for c in server.commands if c.startswith("MAIL")] == [
        "MAIL FROM:<a@example.org> SIZE=100"
    ]


def test_smtputf8_and_8bitmime_are_declared_when_offered() -> None:
    behaviour = Behaviour(extensions=("SMTPUTF8", "8BITMIME"))
    message = Message("jörg@example.org", ("zoë@example.org",), b"Hi\n", True, True)
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        assert smtp.send(message).status is Status.SENT
    assert server.commands[1] == "MAIL FROM:<jörg@example.org> BODY=8BITMIME SMTPUTF8"
    assert server.commands[2] == "RCPT TO:<zoë@example.org>"


@pytest.mark.parametrize(
    ("message", "dsn", "reason"),
    [
        (Message("jörg@example.org", TWO, b"x"), None, "SMTPUTF8"),
        (Message("a@example.org", TWO, b"x", eight_bit=True), None, "8BITMIME"),
        (Message("a@example.org", TWO, b"x"), DSN(ret="HDRS"), "DSN"),
    ],
)
def test_an_extension_the_message_needs_but_the_server_lacks_refuses_it_here(
    message: Message, dsn: DSN | None, reason: str
) -> None:
    with FakeSMTPServer(Behaviour(extensions=())) as server, client(server) as smtp:
        result = smtp.send(message, dsn=dsn)
    assert result.status is Status.REJECTED and reason in result.text
    assert "MAIL" not in verbs(server)


def test_dsn_options_are_passed_through() -> None:
    dsn = DSN(ret="HDRS", envid="id+1=x", notify=("SUCCESS", "FAILURE"), orcpt=True)
    with FakeSMTPServer(Behaviour(extensions=("DSN",))) as server, client(server) as smtp:
        smtp.send(Message("a@example.org", ("b+tag@example.org",), b"x"), dsn=dsn)
    assert server.commands[1] == "MAIL FROM:<a@example.org> RET=HDRS ENVID=id+2B1+3Dx"
    assert server.commands[2] == (
        "RCPT TO:<b+tag@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Btag@example.org"
    )
    with pytest.raises(UsageError, match="NEVER alone"):
        DSN(notify=("NEVER", "SUCCESS"))


def test_a_message_sent_again_or_changed_says_its_own_envelope_each_time() -> None:
    # A message sent again, then changed one value at a time (size, recipients, sender,
    # UTF-8, 8-bit, DSN): each send's MAIL and RCPT lines are its own.
    behaviour = Behaviour(extensions=("SIZE 1000", "8BITMIME", "SMTPUTF8", "DSN"))
    first = Message("a@example.org", TWO, b"x")
    eight_bit = Message("a@example.org", TWO[:1], b"xy", eight_bit=True)
    sends = [
        (first, None),
        (first, None),
        (Message("a@example.org", TWO, b"xy"), None),
        (Message("a@example.org", TWO[:1], b"xy"), None),
        (Message("z@example.org", TWO[:1], b"xy"), None),
        (Message("a@example.org", TWO[:1], b"xy", smtputf8=True), None),
        (eight_bit, None),
        (eight_bit, DSN(ret="HDRS", notify=("NEVER",))),
        (Message("jörg@example.org", TWO[:1], b"xy"), None),
        (first, None),
    ]
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        for message, dsn in sends:
            assert smtp.send(message, dsn=dsn).sent
    envelope = [c for c in server.commands if c.startswith(("MAIL", "RCPT"))]
    mail_1, mail_2 = "MAIL FROM:<a@example.org> SIZE=1", "MAIL FROM:<a@example.org> SIZE=2"
    rcpt_b, rcpt_c = "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>"
    assert envelope == [
        *(mail_1, rcpt_b, rcpt_c) * 2,
        mail_2, rcpt_b, rcpt_c,
        mail_2, rcpt_b,
        "MAIL FROM:<z@example.org> SIZE=2", rcpt_b,
        f"{mail_2} SMTPUTF8", rcpt_b,
        f"{mail_2} BODY=8BITMIME", rcpt_b,
        f"{mail_2} BODY=8BITMIME RET=HDRS", f"{rcpt_b} NOTIFY=NEVER",
        "MAIL FROM:<jörg@example.org> SIZE=2 SMTPUTF8", rcpt_b,
        mail_1, rcpt_b, rcpt_c,
    ]  # fmt: skip


def test_several_messages_share_a_connection_and_rset_follows_an_aborted_one() -> None:
    behaviour = Behaviour(rcpt_replies={"nobody@example.org": "550 5.1.1 no"})
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        assert smtp.send(Message("a@example.org", TWO, b"1")).sent
        assert smtp.send(Message("a@example.org", TWO, b"2")).sent
        assert not smtp.send(Message("a@example.org", ("nobody@example.org",), b"3")).sent
        assert smtp.send(Message("a@example.org", TWO, b"4")).sent
    assert verbs(server).count("RSET") == 1
    assert verbs(server).index("RSET") == verbs(server).index("DATA", 10) + 1
    assert server.messages == [b"1\r\n", b"2\r\n", b"", b"4\r\n"]


def test_line_breaks_in_addresses_are_refused() -> None:
    with FakeSMTPServer(Behaviour()) as server, client(server) as smtp:
        with pytest.raises(UsageError, match="command injection"):
            smtp.send(Message("a@example.org>\r\nRCPT TO:<evil@example.org", TWO, b"x"))
        with pytest.raises(UsageError, match="at least one recipient"):
            smtp.send(Message("a@example.org", (), b"x"))
    assert "MAIL" not in verbs(server)


def test_the_transcript_shows_commands_and_a_byte_count_but_no_message_data() -> None:
    lines: list[str] = []
    secret_body = b"Subject: s3cr3t\r\n\r\nthe body\r\n"
    with (
        FakeSMTPServer(Behaviour()) as server,
        SMTPClient(
            "127.0.0.1", server.port, tls="none", timeout=3, transcript=lines.append
        ) as smtp,
    ):
        smtp.send(Message("a@example.org", TWO, secret_body))
    assert f"C: MAIL FROM:<a@example.org> SIZE={len(secret_body)}" in lines
    assert f"C: <message data, {len(secret_body) + 3} bytes, dot-stuffed, ending with '.'>" in lines
    assert "S: 250 2.0.0 queued" in lines
    assert not any("s3cr3t" in line or "the body" in line for line in lines)


def test_a_small_message_goes_with_its_envelope_in_one_write() -> None:
    """CHUNKING and PIPELINING: MAIL, every RCPT and BDAT LAST with the data, then the
    replies; one round trip (RFC 2920 3.1, RFC 3030 2)."""
    lines: list[str] = []
    extensions = ("CHUNKING", "PIPELINING")
    with (
        FakeSMTPServer(Behaviour(extensions=extensions)) as server,
        SMTPClient(
            "127.0.0.1", server.port, tls="none", timeout=3, transcript=lines.append
        ) as smtp,
    ):
        start = len(lines)
        result = smtp.send(Vouched("a@example.org", TWO, b"Subject: x\r\n\r\nhi\r\n"))
    assert result.status is Status.SENT and result.accepted == TWO
    said = lines[start:]
    assert [line.split(" ")[0] + " " + line.split(" ")[1] for line in said[:4]] == [
        "C: MAIL", "C: RCPT", "C: RCPT", "C: BDAT"
    ] and said[4].startswith("C: <message data")  # fmt: skip
    assert all(line.startswith("S:") for line in said[5:9])  # every reply after the one write
    assert server.messages == [b"Subject: x\r\n\r\nhi\r\n"]


def test_a_message_sent_with_its_envelope_and_refused_leaves_the_session_usable() -> None:
    extensions = ("CHUNKING", "PIPELINING")
    behaviour = Behaviour(extensions=extensions, rcpt_replies=dict.fromkeys(TWO, "550 5.1.1 no"))
    with FakeSMTPServer(behaviour) as server, client(server) as smtp:
        refused = smtp.send(Vouched("a@example.org", TWO, b"hi\r\n"))
        assert refused.status is Status.REJECTED and not refused.accepted
        assert smtp.send(Message("a@example.org", ("z@example.org",), b"next\r\n")).sent
    assert "RSET" in verbs(server)  # the refused transaction is reset before the next


def test_a_link_lost_after_a_message_went_with_its_envelope_is_outcome_unknown() -> None:
    """The whole message was out before any reply: a reply not read may have been a yes."""
    extensions = ("CHUNKING", "PIPELINING")
    with (
        FakeSMTPServer(Behaviour(extensions=extensions, drop="RCPT#1")) as server,
        client(server) as smtp,
        pytest.raises(OutcomeUnknown, match="may have been accepted") as caught,
    ):
        smtp.send(Vouched("a@example.org", TWO, b"hi\r\n"))
    result = caught.value.result
    assert result.status is Status.UNKNOWN and not result.sent
    assert [r.text for r in result.recipients] == ["no reply could be read"] * 2


def test_a_refused_mail_before_a_lost_link_is_no_outcome_unknown() -> None:
    extensions = ("CHUNKING", "PIPELINING")
    behaviour = Behaviour(extensions=extensions, mail_reply="550 5.7.1 no", drop="RCPT#1")
    with (
        FakeSMTPServer(behaviour) as server,
        client(server) as smtp,
        pytest.raises(ConnectionFailed),
    ):
        smtp.send(Vouched("a@example.org", TWO, b"hi\r\n"))
