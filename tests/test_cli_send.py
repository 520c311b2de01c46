"""``sasl-kit send`` against the scripted fake server: results, exit statuses, secrets."""

from __future__ import annotations

import base64
import email
import io
import json
from pathlib import Path

import pytest

from sasl_kit.channel_binding import tls_server_end_point
from sasl_kit.cli import main
from tests.smtp.conftest import Certificate
from tests.smtp.conftest import certificate as certificate  # the fixture, shared with tests/smtp
from tests.smtp.fakes import Behaviour, FakeSMTPServer

PASSWORD = "Sëcret-pässword-42"
USERS = {"tim": PASSWORD}
ENVELOPE = ["--from", "a@example.org", "--to", "b@example.org", "--subject", "hi"]


def _run(
    capsys: pytest.CaptureFixture[str], server: FakeSMTPServer, *argv: str, scheme: str = "smtp"
) -> tuple[int, str, str]:
    tls = ["--no-tls"] if scheme == "plain" else []
    url = f"{'smtp' if scheme == 'plain' else scheme}://127.0.0.1:{server.port}"
    status = main(["send", "--server", url, *tls, "--timeout", "5", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _tls(certificate: Certificate, **kwargs: object) -> Behaviour:
    return Behaviour(tls=certificate.server_context, **kwargs)  # type: ignore[arg-type]


def test_plain_session_sends_to_every_recipient_and_keeps_bcc_out_of_the_headers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*ENVELOPE, "--cc", "c@example.org", "--bcc", "d@example.org", "--body", ".dot\n"]
    with FakeSMTPServer(Behaviour()) as server:
        status, out, err = _run(capsys, server, *argv, scheme="plain")
    assert (status, err) == (0, "")
    rows = [line.split()[:3] for line in out.splitlines()]
    assert rows[1:-1] == [[f"{x}@example.org", "yes", "250"] for x in "bcd"]
    assert out.splitlines()[-1] == "sent: 250 2.0.0 queued"
    (data,) = server.messages
    assert b"\r\n..dot\r\n" in data
    headers = email.message_from_bytes(data).items()
    # Message-ID is random hex "@example.org" and may end in "d": leave it out.
    assert not any("d@example.org" in v for k, v in headers if k != "Message-ID")
    assert "Bcc" not in dict(headers)


def test_starttls_with_cafile_and_auth_prints_json(
    certificate: Certificate, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    auth = ["--username", "tim", "--password-file", str(pw), "--cafile", certificate.cafile]
    behaviour = _tls(certificate, mechanisms=("SCRAM-SHA-256", "PLAIN"), users=USERS)
    with FakeSMTPServer(behaviour) as server:
        status, out, err = _run(capsys, server, *auth, *ENVELOPE, "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == {
        "status": "sent",
        "code": 250,
        "text": "2.0.0 queued",
        "mechanism": "SCRAM-SHA-256",
        "recipients": [
            {"address": "b@example.org", "accepted": True, "code": 250, "text": "2.1.5 ok"}
        ],
    }
    assert [c.split(" ")[0] for c in server.commands[:3]] == ["EHLO", "STARTTLS", "EHLO"]


def test_untrusted_certificate_exits_3(
    certificate: Certificate, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSMTPServer(_tls(certificate)) as server:
        status, out, err = _run(capsys, server, *ENVELOPE)
    assert (status, out) == (3, "")
    assert "TLS handshake" in err and err.count("\n") == 1


def test_mechanism_option_limits_the_choice(
    certificate: Certificate, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SASL_KIT_PASSWORD", PASSWORD)
    behaviour = _tls(certificate, mechanisms=("SCRAM-SHA-256", "PLAIN"), users=USERS)
    argv = ["--username", "tim", "--mechanism", "PLAIN", "--cafile", certificate.cafile]
    with FakeSMTPServer(behaviour) as server:
        status, out, _ = _run(capsys, server, *argv, *ENVELOPE, "--json")
    assert (status, json.loads(out)["mechanism"]) == (0, "PLAIN")


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--mechanism", "CRAM-MD5"], "it does not offer CRAM-MD5 (--mechanism); it offers "
         "SCRAM-SHA-256-PLUS SCRAM-SHA-256"),
        (["--mechanism", "SCRAM-SHA-256-PLUS"],
         "(SCRAM-SHA-256-PLUS: needs --channel-binding TYPE)"),
    ],
)  # fmt: skip
def test_no_usable_mechanism_is_said_in_the_command_s_options(
    certificate: Certificate,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: list[str],
    said: str,
) -> None:
    monkeypatch.setenv("SASL_KIT_PASSWORD", PASSWORD)
    behaviour = _tls(certificate, mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"), users=USERS)
    argv = ["--username", "tim", "--cafile", certificate.cafile, *option]
    with FakeSMTPServer(behaviour) as server:
        status, _, err = _run(capsys, server, *argv, *ENVELOPE)
    assert status == 3 and said in err, err
    assert "allow list" not in err and "there is none" not in err


def test_channel_binding_with_no_tls_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["send", "--server", "smtp://127.0.0.1:9", "--no-tls", "--channel-binding",
            "tls-unique", "--username", "tim", "--allow-plaintext", *ENVELOPE]  # fmt: skip
    assert main(argv) == 2
    assert "--channel-binding binds to TLS" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "chosen"),
    [([], "SCRAM-SHA-256"), (["--channel-binding", "tls-server-end-point"], "SCRAM-SHA-256-PLUS")],
)
def test_channel_binding_option_lets_scram_plus_be_chosen(
    certificate: Certificate,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: list[str],
    chosen: str,
) -> None:
    monkeypatch.setenv("SASL_KIT_PASSWORD", PASSWORD)
    mechanisms = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
    behaviour = _tls(certificate, mechanisms=mechanisms, users=USERS)
    behaviour.server_options = {"channel_binding": tls_server_end_point(certificate.der)}
    argv = ["--username", "tim", "--cafile", certificate.cafile, *option]
    with FakeSMTPServer(behaviour) as server:
        status, out, _ = _run(capsys, server, *argv, *ENVELOPE, "--json")
    assert (status, json.loads(out)["mechanism"]) == (0, chosen)


def _token_owner(user: str, token: str) -> str | None:
    return user if token == "good-token" else None


@pytest.mark.parametrize("name", ["OAUTHBEARER", "XOAUTH2"])
def test_a_token_authenticates_with_oauth_and_a_refusal_shows_the_server_s_status(
    certificate: Certificate,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
) -> None:
    monkeypatch.delenv("SASL_KIT_PASSWORD", raising=False)
    behaviour = _tls(certificate, mechanisms=(name, "PLAIN"), users=USERS)
    behaviour.server_options = {"validate_token": _token_owner}
    token_file = tmp_path / "token"
    token_file.write_text("good-token\n", encoding="utf-8")
    argv = ["--username", "tim", "--cafile", certificate.cafile, *ENVELOPE]
    with FakeSMTPServer(behaviour) as server:
        status, out, _ = _run(capsys, server, *argv, "--token-file", str(token_file), "--json")
    assert (status, json.loads(out)["mechanism"]) == (0, name)  # PLAIN: no password
    with FakeSMTPServer(behaviour) as server:
        status, out, err = _run(capsys, server, *argv, "--token", "bad-token")
    status_text = {"OAUTHBEARER": "invalid_token", "XOAUTH2": "401"}[name]
    assert (status, out) == (3, "")
    assert f"error: status '{status_text}'" in err and "bad-token" not in err


@pytest.mark.parametrize("option", ["--token", "--password"])
def test_a_secret_without_a_username_exits_2_before_connecting(
    capsys: pytest.CaptureFixture[str], option: str
) -> None:
    status = main(["send", "--server", "smtp://127.0.0.1:9", *ENVELOPE, option, "x"])
    assert (status, capsys.readouterr().err) == (
        2,
        "sasl-kit: error: a password or token needs --username\n",
    )


def test_a_refused_recipient_exits_1_with_its_row(capsys: pytest.CaptureFixture[str]) -> None:
    behaviour = Behaviour(rcpt_replies={"c@example.org": "550 5.1.1 no such user"})
    with FakeSMTPServer(behaviour) as server:
        status, out, _ = _run(capsys, server, *ENVELOPE, "--to", "c@example.org", scheme="plain")
    assert status == 1
    lines = out.splitlines()
    assert lines[2].split() == ["c@example.org", "no", "550", "5.1.1", "no", "such", "user"]
    assert lines[-1] == "partial: 250 2.0.0 queued"


def test_a_refused_message_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeSMTPServer(Behaviour(final_reply="554 5.6.0 spam")) as server:
        status, out, _ = _run(capsys, server, *ENVELOPE, scheme="plain")
    assert (status, out.splitlines()[-1]) == (1, "rejected: 554 5.6.0 spam")


@pytest.mark.parametrize("extensions", [("PIPELINING",), ("PIPELINING", "CHUNKING")])
def test_link_dropped_before_the_final_reply_exits_4(
    extensions: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSMTPServer(Behaviour(extensions=extensions, drop="final")) as server:
        status, out, err = _run(capsys, server, *ENVELOPE, scheme="plain")
    assert status == 4
    assert out.splitlines()[-1].startswith("unknown:")
    assert "may have been accepted" in err


@pytest.mark.parametrize("drop", ["greeting", "MAIL", "RCPT#1", "data"])
def test_link_dropped_before_the_end_of_the_data_exits_3(
    drop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    attachment = tmp_path / "big.bin"
    attachment.write_bytes(bytes(16 << 20))  # more than socket buffers hold: the end never leaves
    behaviour = Behaviour(extensions=("PIPELINING",), drop=drop)
    with FakeSMTPServer(behaviour) as server:
        status, out, err = _run(
            capsys, server, *ENVELOPE, "--attach", str(attachment), scheme="plain"
        )
    assert (status, out) == (3, "")
    assert "may have been" not in err


def test_temporary_failure_in_the_session_exits_3(
    certificate: Certificate, capsys: pytest.CaptureFixture[str]
) -> None:
    behaviour = _tls(certificate, mechanisms=("PLAIN",), auth_replies={"PLAIN": "454 4.7.0 later"})
    argv = ["--username", "tim", "--password", PASSWORD, "--cafile", certificate.cafile]
    with FakeSMTPServer(behaviour) as server:
        status, _, err = _run(capsys, server, *argv, *ENVELOPE)
    assert status == 3 and "454" in err


def test_wrong_password_exits_3_and_never_shows_a_secret(
    certificate: Certificate, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "Wrong-pässword-7"
    behaviour = _tls(certificate, mechanisms=("PLAIN",), users=USERS)
    argv = ["--username", "tim", "--password", wrong, "--cafile", certificate.cafile, "-v"]
    with FakeSMTPServer(behaviour) as server:
        status, out, err = _run(capsys, server, *argv, *ENVELOPE)
    assert (status, out) == (3, "")
    assert "rejected the credentials" in err.splitlines()[-1]
    assert "C: AUTH PLAIN <redacted>" in err
    _assert_no_secret(err, wrong, "tim")


def test_transcript_is_redacted_for_a_multi_step_mechanism(
    certificate: Certificate, capsys: pytest.CaptureFixture[str]
) -> None:
    behaviour = _tls(certificate, mechanisms=("LOGIN",), users=USERS)
    argv = ["--username", "tim", "--password", PASSWORD, "--cafile", certificate.cafile, "-v"]
    with FakeSMTPServer(behaviour) as server:
        status, _, err = _run(capsys, server, *argv, *ENVELOPE)
    assert status == 0
    assert "S: 334 <redacted>" in err and "C: <message data," in err
    _assert_no_secret(err, PASSWORD, "tim")


def _assert_no_secret(err: str, secret: str, user: str) -> None:
    raw = secret.encode()
    forms = [secret, raw.hex(), base64.b64encode(raw).decode()]
    forms += [base64.b64encode(f"\0{user}\0{secret}".encode()).decode()]
    assert not [form for form in forms if form in err]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--to", "bob"], "to[0]"),
        (["--to", "b@example.org\r\nBcc: x@example.org"], "header injection"),
        (["--to", "b@example.org", "--attach", "/nonexistent/file"], "/nonexistent/file"),
        (["--to", "b@example.org", "--body-file", "/nonexistent/body"], "--body-file"),
        (["--to", "b@example.org", "--password", "p"], "--username"),
        (["--to", "b@example.org", "--mechanism", "X-NONE", "--username", "u"], "X-NONE"),
        (["--to", "b@example.org", "--timeout", "0"], "--timeout"),
        (["--from", "a@example.org", "--subject", "only"], "no recipient"),
    ],
)
def test_bad_input_exits_2_before_connecting(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 on a closed listener: had the command connected, the status would be 3.
    envelope = ["--from", "a@example.org", "--subject", "s"] if "--subject" not in argv else []
    status = main(["send", "--server", "smtp://127.0.0.1:9", *envelope, *argv])
    err = capsys.readouterr().err
    assert status == 2, err
    assert named in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://127.0.0.1", "scheme 'http'"),
        ("smtp://127.0.0.1:99999", "port"),
        ("smtp://", "HOST"),
        ("smtp://tim:hunter2@127.0.0.1", "no user or password"),
        ("smtps://127.0.0.1 --no-tls", "--no-tls"),
    ],
)
def test_bad_server_url_exits_2_without_echoing_it(
    url: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server, *more = url.split(" ")
    status = main(["send", "--server", server, *more, *ENVELOPE])
    err = capsys.readouterr().err
    assert status == 2 and named in err and "hunter2" not in err


def test_credentials_without_tls_need_allow_plaintext(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["send", "--server", "smtp://127.0.0.1:9", "--no-tls", "--username", "tim", *ENVELOPE]
    assert main(argv) == 2
    assert "--allow-plaintext" in capsys.readouterr().err
    behaviour = Behaviour(mechanisms=("PLAIN",), users=USERS)
    with FakeSMTPServer(behaviour) as server:
        status, out, _ = _run(
            capsys,
            server,
            "--username",
            "tim",
            "--password",
            PASSWORD,
            "--allow-plaintext",
            *ENVELOPE,
            "--json",
            scheme="plain",
        )
    assert (status, json.loads(out)["mechanism"]) == (0, "PLAIN")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_for_a_large_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    attachment = tmp_path / "big.bin"
    attachment.write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    terminal = _Terminal()
    with FakeSMTPServer(Behaviour()) as server:
        monkeypatch.setattr("sys.stderr", terminal)
        status, _, _ = _run(capsys, server, *ENVELOPE, "--attach", str(attachment), scheme="plain")
    assert status == 0
    shown = terminal.getvalue()
    assert shown.startswith("\r[") and shown.endswith("] 100%  2.7/2.7 MiB\n")
    assert base64.b64encode(attachment.read_bytes()) in server.messages[0].replace(b"\r\n", b"")
