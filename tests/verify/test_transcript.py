"""Transcript readers: the three notations, SMTP/IMAP/POP3, and no traceback on any text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sasl_kit import SASLError, verify

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def test_rfc_notation_with_a_folded_challenge_and_a_refused_mechanism() -> None:
    text = (
        "S: 220 smtp.example.com ESMTP server ready\n"
        "C: AUTH FOOBAR\n"
        "S: 504 Unrecognized authentication type.\n"
        "C: AUTH CRAM-MD5\n"
        "S: 334\n"
        "   PENCeUxFREJoU0NnbmhNWitOMjNGNndAZWx3b29kLmlubm9zb2Z0LmNvbT4=\n"
        "C: ZnJlZCA5ZTk1YWVlMDljNDBhZjJiODRhMGMyYjNiYmFlNzg2ZQ==\n"
        "S: 235 Authentication successful.\n"
    )
    refused, cram = verify.read(text)
    assert (refused.mechanism, refused.messages, refused.outcome.success) == ("FOOBAR", (), False)
    assert [m.side for m in cram.messages] == ["S", "C"]
    assert cram.messages[0].data().startswith(b"<")
    assert (cram.protocol, cram.outcome.success, cram.line) == ("smtp", True, 4)


def test_the_example_files_are_read_in_their_notations() -> None:
    assert verify.notation(_example("seed-digest-md5.txt")) == "telnet"
    assert verify.notation(_example("cram-md5-saslauthd.txt")) == "rfc"
    assert verify.notation(_example("swaks-cram-md5.txt")) == "swaks"
    (seed,) = verify.read(_example("seed-digest-md5.txt"))
    assert (seed.mechanism, len(seed.messages), seed.outcome.success) == ("DIGEST-MD5", 2, False)
    cram, plain = verify.read(_example("cram-md5-saslauthd.txt"))
    assert (cram.mechanism, cram.outcome.success) == ("CRAM-MD5", False)
    assert plain.initial_response is not None and plain.outcome.success
    (swaks,) = verify.read(_example("swaks-cram-md5.txt"))
    assert (swaks.mechanism, swaks.outcome.reply) == (
        "CRAM-MD5",
        "235 2.7.0 Authentication successful",
    )


def test_raw_imap_session_with_tagged_outcome_and_untagged_chatter() -> None:
    text = (
        "* OK [CAPABILITY IMAP4rev1 SASL-IR] ready\n"
        "a1 AUTHENTICATE PLAIN\n"
        "+ \n"
        "AGFsaWNlAHdyb25n\n"
        "* CAPABILITY IMAP4rev1\n"
        "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\n"
        "a2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\n"
        "a2 OK Logged in\n"
    )
    first, second = verify.read(text)
    assert (first.protocol, first.outcome.success, len(first.messages)) == ("imap", False, 2)
    assert second.initial_response is not None and second.outcome.success


def test_raw_pop3_session_and_a_cancelled_exchange() -> None:
    text = (
        "+OK Dovecot ready.\n"
        "AUTH CRAM-MD5\n"
        "+ PDEyMzRAaG9zdD4=\n"
        "*\n"
        "-ERR Authentication cancelled\n"
        "AUTH PLAIN\n"
        "+ \n"
        "AGFsaWNlAHNlY3JldA==\n"
        "+OK Logged in.\n"
    )
    cancelled, plain = verify.read(text)
    assert cancelled.protocol == "pop3" and cancelled.outcome.cancelled
    assert plain.outcome.success and plain.messages[-1].data() == b"\0alice\0secret"


def test_text_without_auth_has_no_exchange() -> None:
    assert verify.read("hello\nS: 220 hi\nC: QUIT\n") == ()


LINES = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(["C: ", "S: ", "<-  ", " -> ", "<~* ", " ~> ", "", "a1 ", "   "]).flatmap(
            lambda prefix: st.sampled_from(
                [
                    "AUTH ",
                    "AUTH DIGEST-MD5",
                    "AUTH PLAIN =",
                    "a1 AUTHENTICATE CRAM-MD5",
                    "334 ",
                    "334 cmVhbG09",
                    "+ ",
                    "+",
                    "235 ok",
                    "535 no",
                    "a1 OK",
                    "a1 NO",
                    "+OK",
                    "-ERR",
                    "*",
                    "=",
                    "dGlt",
                    "bm9uY2U9IngiLGFsZ29yaXRobT1tZDUtc2Vzcw==",
                ]
            ).map(lambda body: prefix + body)
        ),
        st.binary(max_size=60).map(lambda b: __import__("base64").b64encode(b).decode()),
    ),
    max_size=14,
)


@settings(max_examples=400, deadline=None)
@given(LINES, st.sampled_from(["SCRAM-SHA-1", "CRAM-MD5", "DIGEST-MD5", "PLAIN", "LOGIN", None]))
@example(["AUTH ", "334"], "PLAIN")  # found by this test: PLAIN with no client message
def test_arbitrary_text_never_raises_anything_but_a_sasl_error(
    lines: list[str], mech: str | None
) -> None:
    text = "\n".join(lines)
    if mech is not None:
        text = text.replace("AUTH ", f"AUTH {mech} ", 1)
    try:
        for exchange in verify.read(text):
            diagnosis = verify.diagnose(
                exchange, username="tim", password="pw", service="smtp", host="h"
            )
            assert diagnosis.verdict in verify.VERDICTS
            verify.diagnose(exchange)
    except SASLError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_unicode_text_is_read_without_a_traceback(text: str) -> None:
    for exchange in verify.read(text):
        verify.diagnose(exchange, password="pw")
