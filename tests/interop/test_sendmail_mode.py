"""``sasl-kit send`` and ``sasl-kit sendmail`` as swaks and msmtp are used, against Postfix.

The private Postfix + Dovecot of the interop tests (tests/interop/mta.py) receives:
a ready message with Bcc sent with ``-t`` (every recipient gets it, no copy shows
Bcc), a patch from ``git send-email --sendmail-cmd`` (Debian's git-email), a mail
from ``s-nail`` whose MTA is ``sasl-kit sendmail``; ``--quit-after auth`` reports
the mechanism and Postfix's log shows the session had no MAIL.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.interop.conftest import require_programs
from tests.interop.mta import DOMAIN, HOST, MailSite, Postfix
from tests.interop.peers import ALICE

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
GIT, S_NAIL = "/usr/bin/git", "/usr/bin/s-nail"
TIMEOUT = 60
SASL_KIT = [sys.executable, "-m", "sasl_kit"]


@pytest.fixture(scope="module")
def account(
    postfix: Postfix, mail_store: MailSite, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An accounts file for the Postfix, the password kept out of it (password_command)."""
    directory = tmp_path_factory.mktemp("account")
    secret = directory / "secret"
    secret.write_text(ALICE.password + "\n", encoding="utf-8")
    secret.chmod(0o600)
    config = directory / "config.toml"
    config.write_text(
        f"""\
default = "test"

[accounts.test]
server = "smtp://{HOST}:{postfix.smtp_port}"
username = "{ALICE.user}"
password_command = ["cat", "{secret}"]
cafile = "{mail_store.cafile}"
from = "alice@{DOMAIN}"
ehlo = "laptop.{DOMAIN}"
""",
        encoding="utf-8",
    )
    return config


def run(*argv: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SASL_KIT, *argv], input=data, capture_output=True, timeout=TIMEOUT, check=False, cwd=ROOT
    )


def test_a_ready_message_with_bcc_sent_with_t_reaches_everyone_without_bcc(
    account: Path, mail_store: MailSite
) -> None:
    marker = uuid.uuid4().hex
    message = (
        f"From: Alice <alice@{DOMAIN}>\r\nTo: bob@{DOMAIN}\r\nCc: carol@{DOMAIN}\r\n"
        f"Bcc: dave@{DOMAIN}\r\nSubject: {marker}\r\n\r\nA ready message.\r\n"
    ).encode()
    done = run("send", "--config", str(account), "--data", "-", "-t", data=message)
    assert done.returncode == 0, done.stdout + done.stderr
    for box in ("bob", "carol", "dave"):
        delivered = mail_store.wait_for_mail(box, marker)
        assert "Bcc" not in delivered
        # Postfix names the mailbox a copy went to (Delivered-To, X-Original-To): only
        # dave's own copy may show his address.
        assert (f"dave@{DOMAIN}" in delivered.as_string()) == (box == "dave")


def test_git_send_email_delivers_a_patch_through_sendmail(
    account: Path, mail_store: MailSite, tmp_path: Path
) -> None:
    require_programs(GIT, "/usr/lib/git-core/git-send-email")
    marker = uuid.uuid4().hex
    git = [GIT, "-C", str(tmp_path), "-c", "user.name=Alice", "-c", f"user.email=alice@{DOMAIN}"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "file.txt").write_text("hello\n")
    subprocess.run([*git, "add", "file.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", f"add file {marker}"], check=True)
    subprocess.run([*git, "format-patch", "-q", "-1", "-o", "out"], check=True)
    (patch,) = (tmp_path / "out").iterdir()
    command = shlex.join([*SASL_KIT, "sendmail", "--config", str(account), "--account", "test"])
    done = subprocess.run(
        [*git, "send-email", f"--to=bob@{DOMAIN}", f"--from=alice@{DOMAIN}", "--confirm=never",
         "--suppress-cc=all", f"--sendmail-cmd={command}", str(patch)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    delivered = mail_store.wait_for_mail("bob", marker)
    assert "+hello" in delivered.as_string()


def test_s_nail_sends_with_sasl_kit_as_its_mta(
    account: Path, mail_store: MailSite, tmp_path: Path
) -> None:
    require_programs(S_NAIL)
    marker = uuid.uuid4().hex
    mta = tmp_path / "sendmail"  # s-nail runs an MTA path with arguments of its own
    mta.write_text(
        f'#!/bin/sh\nexec {shlex.join([*SASL_KIT, "sendmail", "--config", str(account)])} "$@"\n'
    )
    mta.chmod(0o700)
    done = subprocess.run(
        [S_NAIL, "-:/", f"-Smta={mta}", "-r", f"alice@{DOMAIN}", "-s", marker, f"carol@{DOMAIN}"],
        input="Sent by s-nail through sasl-kit sendmail.\n", capture_output=True, text=True,
        timeout=TIMEOUT, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    delivered = mail_store.wait_for_mail("carol", marker)
    assert "through sasl-kit sendmail" in delivered.get_payload()


def _disconnect_after(log: Path, start: int) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = log.read_bytes()[start:].decode(errors="replace").splitlines()
        found = [line for line in lines if "disconnect from" in line]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError("Postfix logged no disconnect")


def test_quit_after_auth_reports_the_mechanism_and_sends_no_mail(
    account: Path, postfix: Postfix
) -> None:
    start = postfix.maillog.stat().st_size
    done = run("send", "--config", str(account), "--to", f"bob@{DOMAIN}", "--subject", "x",
               "--quit-after", "auth", "--json")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert b'"quit_after": "auth"' in done.stdout and b'"mechanism": "' in done.stdout
    line = _disconnect_after(postfix.maillog, start)
    assert " auth=1 " in line and "mail=" not in line and "rcpt=" not in line, line


def test_a_world_readable_config_with_a_password_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[accounts.a]\nserver = "smtp://{HOST}:1"\npassword = "pw"\n')
    config.chmod(0o644)
    done = run("sendmail", "--config", str(config), "--account", "a", f"bob@{DOMAIN}", data=b"x")
    assert done.returncode == 64
    assert b"others may read it" in done.stderr and b"pw" not in done.stderr.replace(
        b"password", b""
    )


def test_header_injection_through_header_exits_2(account: Path) -> None:
    done = run("send", "--config", str(account), "--to", f"bob@{DOMAIN}", "--subject", "x",
               "--header", "X-Note: a\nBcc: everyone@example.test")  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
