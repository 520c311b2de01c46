"""``sasl-kit send``'s swaks/msmtp options and ``sasl-kit sendmail``, against the fake server.

The real programs that call them (git send-email, s-nail) and Postfix are in
tests/interop/test_sendmail_mode.py; here every option's effect on the wire is
read off the fake server's ``commands`` and ``messages``.
"""

from __future__ import annotations

import email
import io
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sasl_kit.cli import main
from sasl_kit.errors import MessageError
from sasl_kit.mail.ready import ready
from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp_server import MailServer
from tests.smtp.fakes import Behaviour, FakeSMTPServer

READY = (
    b"From: Alice <alice@example.org>\n"
    b"To: bob@example.org,\n carol@example.org\n"
    b"Cc: dave@example.org\n"
    b"Bcc: eve@example.org,\n\tfrank@example.org\n"
    b"Subject: ready\n"
    b"\n"
    b"line one\n"
    b".leading dot\n"
)


def run(
    capsys: pytest.CaptureFixture[str], server: FakeSMTPServer, *argv: str
) -> tuple[int, str, str]:
    url = f"smtp://127.0.0.1:{server.port}"
    status = main(["send", "--server", url, "--no-tls", "--timeout", "5", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


# --- ready messages --------------------------------------------------------------------


def test_data_minus_t_takes_the_envelope_from_the_fields_and_drops_bcc(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, READY)
    with FakeSMTPServer(Behaviour()) as server:
        status, _, err = run(capsys, server, "--data", "-", "-t")
    assert (status, err) == (0, "")
    rcpts = [c for c in server.commands if c.startswith("RCPT")]
    assert rcpts == [f"RCPT TO:<{x}@example.org>" for x in ("bob", "carol", "dave", "eve", "frank")]
    assert server.commands[1].startswith("MAIL FROM:<alice@example.org>")
    (data,) = server.messages
    assert b"Bcc" not in data and b"eve@" not in data and b"frank@" not in data
    assert b"\r\n..leading dot\r\n" in data  # dot-stuffed on the wire, CRLF everywhere
    assert data.replace(b"\r\n", b"").count(b"\n") == 0


def test_data_from_a_file_is_sent_as_it_is_to_the_named_recipients(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    message = tmp_path / "m.eml"
    message.write_bytes(READY)
    with FakeSMTPServer(Behaviour()) as server:
        status, _, _ = run(capsys, server, "--data", str(message), "--to", "zed@example.org")
    assert status == 0
    assert [c for c in server.commands if c.startswith("RCPT")] == ["RCPT TO:<zed@example.org>"]
    (data,) = server.messages
    assert data.startswith(READY.split(b"\n")[0] + b"\r\n")
    assert b"Bcc: eve@example.org,\r\n\tfrank@example.org\r\n" in data  # no -t: untouched


def test_header_adds_and_replaces_fields_of_a_ready_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    message = tmp_path / "m.eml"
    message.write_bytes(READY)
    with FakeSMTPServer(Behaviour()) as server:
        status, _, _ = run(
            capsys, server, "--data", str(message), "-t",
            "--header", "Subject: replaced", "--header", "X-Mailer: sasl-kit",
        )  # fmt: skip
    assert status == 0
    parsed = email.message_from_bytes(server.messages[0])
    assert parsed.get_all("Subject") == ["replaced"]
    assert parsed["X-Mailer"] == "sasl-kit"


def test_header_adds_a_field_to_a_composed_message(capsys: pytest.CaptureFixture[str]) -> None:
    envelope = ["--from", "a@example.org", "--to", "b@example.org", "--subject", "s"]
    with FakeSMTPServer(Behaviour()) as server:
        status, _, _ = run(capsys, server, *envelope, "--header", "X-Test: yes")
    assert status == 0
    assert email.message_from_bytes(server.messages[0])["X-Test"] == "yes"


@pytest.mark.parametrize(
    "header",
    ["X-Evil: a\nBcc: everyone@example.org", "X-Evil: a\rb", "Bad Name: x", "no colon", ": x"],
)
def test_header_injection_or_a_bad_field_exits_2_before_connecting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, header: str
) -> None:
    message = tmp_path / "m.eml"
    message.write_bytes(READY)
    # Port 9 (discard) on loopback: nothing listens, and nothing may try to.
    status = main(["send", "--server", "smtp://127.0.0.1:9", "--no-tls",
                   "--data", str(message), "-t", "--header", header])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "cannot connect" not in err


def test_body_file_minus_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, "Grüße von stdin\n".encode())
    envelope = ["--from", "a@example.org", "--to", "b@example.org", "--subject", "s"]
    with FakeSMTPServer(Behaviour()) as server:
        status, _, _ = run(capsys, server, *envelope, "--body-file", "-")
    assert status == 0
    body = email.message_from_bytes(server.messages[0]).get_payload(decode=True)
    assert isinstance(body, bytes) and body.decode() == "Grüße von stdin\r\n"


# --- test controls ----------------------------------------------------------------------


def test_ehlo_names_us_as_asked(capsys: pytest.CaptureFixture[str]) -> None:
    envelope = ["--from", "a@example.org", "--to", "b@example.org", "--subject", "s"]
    with FakeSMTPServer(Behaviour()) as server:
        assert run(capsys, server, *envelope, "--ehlo", "client.example.org")[0] == 0
    assert server.commands[0] == "EHLO client.example.org"


@pytest.mark.parametrize(
    ("stage", "last"),
    [("connect", None), ("ehlo", "EHLO"), ("tls", "EHLO"), ("mail", "RSET"), ("rcpt", "RSET")],
)
def test_quit_after_stops_there_reports_and_sends_no_message(
    capsys: pytest.CaptureFixture[str], stage: str, last: str | None
) -> None:
    envelope = ["--from", "a@example.org", "--to", "b@example.org", "--subject", "s"]
    with FakeSMTPServer(Behaviour()) as server:
        status, out, _ = run(capsys, server, *envelope, "--quit-after", stage)
    assert status == 0, out
    assert server.messages == []
    verbs = [c.split()[0] for c in server.commands if c != "QUIT"]
    assert (verbs[-1] if verbs else None) == last
    assert ("RCPT" in verbs) == (stage == "rcpt") and ("DATA" not in verbs)
    assert out.splitlines()[-1].startswith(f"stopped after {stage}")
    assert out.splitlines()[-1].endswith("nothing was sent")


def test_quit_after_rcpt_with_a_refused_recipient_exits_1_with_its_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    behaviour = Behaviour(rcpt_replies={"c@example.org": "550 5.1.1 no such user"})
    argv = ["--from", "a@example.org", "--to", "c@example.org", "--subject", "s"]
    with FakeSMTPServer(behaviour) as server:
        status, out, _ = run(capsys, server, *argv, "--quit-after", "rcpt")
    assert status == 1
    assert out.splitlines()[1].split()[:3] == ["c@example.org", "no", "550"]


def test_dsn_options_go_on_mail_and_rcpt(capsys: pytest.CaptureFixture[str]) -> None:
    behaviour = Behaviour(extensions=("PIPELINING", "DSN", "SIZE 10000000"))
    argv = ["--from", "a@example.org", "--to", "b@example.org", "--subject", "s"]
    with FakeSMTPServer(behaviour) as server:
        status, _, _ = run(
            capsys, server, *argv,
            "--dsn-notify", "success,failure", "--dsn-ret", "hdrs", "--dsn-envid", "id+1",
        )  # fmt: skip
    assert status == 0
    mail = next(c for c in server.commands if c.startswith("MAIL"))
    rcpt = next(c for c in server.commands if c.startswith("RCPT"))
    assert "RET=HDRS" in mail and "ENVID=id+2B1" in mail
    assert "NOTIFY=SUCCESS,FAILURE" in rcpt


def test_a_message_refused_locally_exits_3_with_one_line_and_no_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    behaviour = Behaviour(extensions=("PIPELINING", "SIZE 100"))
    argv = [
        "--from",
        "a@example.org",
        "--to",
        "b@example.org",
        "--subject",
        "s",
        "--body",
        "x" * 200,
    ]
    with FakeSMTPServer(behaviour) as server:
        status, out, err = run(capsys, server, *argv)
    assert status == 3 and out == ""
    (line,) = err.strip().splitlines()
    assert "not sent:" in line and "accepts at most 100" in line and "nothing went to" in line
    assert not any(c.startswith("MAIL") for c in server.commands)


# --- accounts ---------------------------------------------------------------------------


def config(tmp_path: Path, body: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    path.chmod(mode)
    return path


def test_an_account_gives_server_sender_and_ehlo_and_options_win(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with FakeSMTPServer(Behaviour()) as server:
        path = config(
            tmp_path,
            f"""
[accounts.test]
server = "smtp://127.0.0.1:{server.port}"
tls = "none"
from = "account@example.org"
ehlo = "from-the-account.example.org"
""",
        )
        status = main(["send", "--config", str(path), "--account", "test", "--ehlo", "cli.example",
                       "--to", "b@example.org", "--subject", "s", "--timeout", "5"])  # fmt: skip
    assert status == 0, capsys.readouterr()
    assert server.commands[0] == "EHLO cli.example"
    assert server.commands[1].startswith("MAIL FROM:<account@example.org>")


def test_a_password_command_is_run_for_the_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    behaviour = Behaviour(mechanisms=("CRAM-MD5",), users={"tim": "from-the-command"})
    with FakeSMTPServer(behaviour) as server:
        path = config(
            tmp_path,
            f"""
default = "test"
[accounts.test]
server = "smtp://127.0.0.1:{server.port}"
tls = "none"
allow_plaintext = true
username = "tim"
password_command = ["printf", "from-the-command\\n"]
""",
        )
        status = main(["send", "--config", str(path), "--from", "a@example.org",
                       "--to", "b@example.org", "--subject", "s", "--timeout", "5"])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, err
    assert any(c.startswith("AUTH CRAM-MD5") for c in server.commands)
    assert "from-the-command" not in out + err


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_config_holding_a_password_that_others_can_read_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mode: int
) -> None:
    path = config(
        tmp_path, '[accounts.a]\nserver = "smtp://127.0.0.1:1"\npassword = "s3cret"\n', mode
    )
    status = main(["send", "--config", str(path), "--account", "a", "--from", "a@example.org",
                   "--to", "b@example.org", "--subject", "s"])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 2 and "others may read it" in err and "chmod 600" in err
    assert "s3cret" not in out + err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[accounts.a]\nsever = "x"\n', "unknown key(s) sever"),
        ("[accounts.a]\nserver = 1\n", "server must be a string"),
        ('[accounts.a]\ntls = "maybe"\n', "tls must be one of"),
        ("not toml", "not a TOML file"),
        ('[accounts.b]\nserver = "smtp://h"\n', "no account 'a' (accounts: b)"),
    ],
)
def test_a_bad_accounts_file_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str, message: str
) -> None:
    path = config(tmp_path, body)
    status = main(["send", "--config", str(path), "--account", "a", "--from", "a@example.org",
                   "--to", "b@example.org", "--subject", "s"])  # fmt: skip
    assert status == 2 and message in capsys.readouterr().err


# --- sendmail ---------------------------------------------------------------------------


def sendmail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: FakeSMTPServer, data: bytes,
    *argv: str, extra: str = "",
) -> int:  # fmt: skip
    path = config(
        tmp_path, f'default = "t"\n[accounts.t]\nserver = "smtp://127.0.0.1:{server.port}"\n'
        f'tls = "none"\n{extra}'
    )  # fmt: skip
    stdin(monkeypatch, data)
    return main(["sendmail", "-C", str(path), *argv])


def test_sendmail_minus_t_sends_the_message_without_bcc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with FakeSMTPServer(Behaviour()) as server:
        status = sendmail(monkeypatch, tmp_path, server, READY, "-t", "-i", "-oi", "-oem")
    assert status == 0
    assert sum(c.startswith("RCPT") for c in server.commands) == 5
    assert b"Bcc" not in server.messages[0]


def test_sendmail_takes_recipients_and_f_and_adds_a_missing_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with FakeSMTPServer(Behaviour()) as server:
        status = sendmail(
            monkeypatch, tmp_path, server, b"Subject: cron\n\nout\n",
            "-i", "-f", "cron@example.org", "-F", "Cron Daemon", "root@example.org",
        )  # fmt: skip
    assert status == 0
    assert server.commands[1].startswith("MAIL FROM:<cron@example.org>")
    assert server.commands[2] == "RCPT TO:<root@example.org>"
    assert (
        email.message_from_bytes(server.messages[0])["From"] == '"Cron Daemon" <cron@example.org>'
    )


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (Behaviour(final_reply="554 5.7.1 refused"), 69),
        (Behaviour(final_reply="451 4.3.0 try later"), 75),
        (Behaviour(rcpt_replies={"root@example.org": "550 5.1.1 unknown"}), 69),
        (Behaviour(extensions=("SIZE 10",)), 69),
        (Behaviour(greeting="421 4.3.2 busy"), 75),
    ],
)
def test_sendmail_exit_statuses_are_sysexits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, behaviour: Behaviour, status: int
) -> None:
    with FakeSMTPServer(behaviour) as server:
        got = sendmail(
            monkeypatch, tmp_path, server, b"From: a@example.org\n\nbody\n", "root@example.org"
        )
    assert got == status


def test_sendmail_wrong_password_is_ex_noperm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    behaviour = Behaviour(mechanisms=("CRAM-MD5",), users={"tim": "right"})
    with FakeSMTPServer(behaviour) as server:
        got = sendmail(
            monkeypatch, tmp_path, server, b"From: a@example.org\n\nbody\n", "root@example.org",
            extra='username = "tim"\npassword = "wrong"\nallow_plaintext = true\n',
        )  # fmt: skip
    assert got == 77
    assert "wrong" not in capsys.readouterr().err.replace("wrong password", "")


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["-bs"], 64), (["--bogus", "secret"], 64), (["-t", "-R", "sometimes"], 64)],
)
def test_sendmail_usage_errors_are_ex_usage_and_echo_no_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    argv: list[str], status: int,
) -> None:  # fmt: skip
    path = config(tmp_path, 'default = "t"\n[accounts.t]\nserver = "smtp://127.0.0.1:9"\n')
    stdin(monkeypatch, b"")
    assert main(["sendmail", "-C", str(path), *argv]) == status
    assert "secret" not in capsys.readouterr().err


def test_sendmail_without_an_account_is_ex_usage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("SASL_KIT_CONFIG", raising=False)
    stdin(monkeypatch, b"From: a@example.org\n\nx\n")
    assert main(["sendmail", "root@example.org"]) == 64
    assert "no account" in capsys.readouterr().err


def test_sendmail_an_unparsable_message_is_ex_dataerr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, 'default = "t"\n[accounts.t]\nserver = "smtp://127.0.0.1:9"\n')
    stdin(monkeypatch, b"Subject: no From field\n\nx\n")
    assert main(["sendmail", "-C", str(path), "-t"]) == 65
    assert "no single From address" in capsys.readouterr().err


# --- ready(), by property ----------------------------------------------------------------


@given(st.binary(max_size=400), st.booleans())
def test_ready_gives_crlf_only_data_without_bcc_or_a_message_error(data: bytes, read: bool) -> None:
    try:
        message = ready(
            data, sender="a@example.org", recipients=["b@example.org"], read_recipients=read
        )
    except MessageError:
        return
    assert message.data.replace(b"\r\n", b"").count(b"\r") == 0
    assert message.data.replace(b"\r\n", b"").count(b"\n") == 0
    assert message.size() == len(b"".join(message.chunks()))
    if read:
        head = message.data.split(b"\r\n\r\n", 1)[0]
        assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))


def test_the_accounts_file_default_place_follows_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    from sasl_kit.cli.accounts import default_path

    monkeypatch.delenv("SASL_KIT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/somewhere")
    assert default_path() == Path("/somewhere/sasl-kit/config.toml")
    monkeypatch.setenv("SASL_KIT_CONFIG", os.devnull)
    assert default_path() == Path(os.devnull)


def test_probe_takes_url_user_and_password_from_an_account(
    smtp_server: MailServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(SMTP_PASSWORD + "\n")
    secret.chmod(0o600)
    path = config(
        tmp_path,
        f"""
[accounts.local]
server = "smtp://{smtp_server.host}:{smtp_server.port}"
username = "{SMTP_USER}"
password_file = "{secret}"
cafile = "{smtp_server.cafile}"
""",
    )
    status = main(["probe", "--config", str(path), "--account", "local", "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    outcomes = {a["mechanism"]: a["outcome"] for a in json.loads(out)["attempts"]}
    assert outcomes["SCRAM-SHA-256"] == outcomes["PLAIN"] == "ok"
    assert SMTP_PASSWORD not in out + err


def test_sendmail_messages_name_the_account_keys_not_send_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sendmail takes no --server or --no-tls: its server and TLS are the account's."""
    with FakeSMTPServer(Behaviour()) as server:  # offers no STARTTLS
        path = config(
            tmp_path, f'default = "t"\n[accounts.t]\nserver = "smtp://127.0.0.1:{server.port}"\n'
        )
        stdin(monkeypatch, b"From: a@example.org\n\nbody\n")
        assert main(["sendmail", "-C", str(path), "root@example.org"]) == 69
    err = capsys.readouterr().err
    assert "does not offer STARTTLS" in err and "tls = \"none\" in account 't'" in err
    for body, said in [
        ('server = "imap://127.0.0.1:9"\n', "account 't': server: expected smtp://"),
        ('server = "smtps://127.0.0.1:9"\ntls = "none"\n', "account 't': tls = 'none' does not"),
        (
            'server = "smtp://127.0.0.1:9"\ntls = "none"\nchannel_binding = "tls-unique"\n',
            "account 't': channel_binding binds to TLS",
        ),
    ]:
        path = config(tmp_path, f'default = "t"\n[accounts.t]\n{body}')
        stdin(monkeypatch, b"From: a@example.org\n\nbody\n")
        assert main(["sendmail", "-C", str(path), "root@example.org"]) == 64
        err = capsys.readouterr().err
        assert said in err and "--server" not in err and "--no-tls" not in err


@pytest.mark.parametrize(
    ("server", "tls"), [("smtp://127.0.0.1:9", "implicit"), ("smtps://127.0.0.1:9", "starttls")]
)
def test_probe_refuses_an_account_whose_tls_does_not_fit_its_url_as_send_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: str, tls: str
) -> None:
    path = config(tmp_path, f'[accounts.t]\nserver = "{server}"\ntls = "{tls}"\n')
    for command in (["probe"], ["send", "--to", "b@example.org", "--subject", "s"]):
        assert main([*command, "--config", str(path), "--account", "t"]) == 2
        assert f"account 't': tls = '{tls}' does not fit {server}" in capsys.readouterr().err
