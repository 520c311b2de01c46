"""swaks, GNU SASL (``gsasl --smtp``) and msmtp against the server, over STARTTLS.

GNU SASL is a logon tool: after AUTH its ``-d`` data is not SMTP, so its runs
prove authentication (235) only; swaks sends a message, which must be stored.
"""

from __future__ import annotations

import subprocess

import pytest

from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp_server import MailServer
from tests.interop.conftest import require_programs
from tests.server.running import USER, Serve

pytestmark = pytest.mark.interop
SWAKS, GSASL = "/usr/bin/swaks", "/usr/bin/gsasl"
TIMEOUT = 20


@pytest.mark.smtp_server(allow_ntlmv1=True)  # swaks (Authen::NTLM) answers with NTLMv1
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "NTLM"])
def test_swaks_authenticates_and_its_message_is_stored(
    smtp_server: MailServer, mechanism: str
) -> None:
    require_programs(SWAKS)
    host = smtp_server.host
    extra = {
        "DIGEST-MD5": ["--auth-extra", f"realm={host},dmd5-serv-type=smtp,dmd5-host={host}"],
        "NTLM": ["--auth-extra", "domain=EXAMPLE"],
    }.get(mechanism, [])
    run = subprocess.run(
        [
            SWAKS,
            "--server",
            host,
            "--port",
            str(smtp_server.port),
            "--tls",
            "--from",
            "user@example.test",
            "--to",
            "to@example.test,cc@example.test",
            "--auth",
            mechanism,
            "--auth-user",
            SMTP_USER,
            "--auth-password",
            SMTP_PASSWORD,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (message,) = smtp_server.messages()
    assert message.recipients == ("to@example.test", "cc@example.test")
    assert (message.sender, message.user, message.mechanism) == (
        "user@example.test",
        SMTP_USER,
        mechanism,
    )


# GNU SASL 2.2.0's SCRAM client binds to tls-unique, which TLS 1.3 does not have, and
# then fails ("Error authenticating user") instead of sending "n"; --no-cb makes it a
# client without channel binding (our server's -PLUS uses tls-server-end-point, which
# gsasl cannot produce).
NO_CHANNEL_BINDING = {"SCRAM-SHA-1": ["--no-cb"], "SCRAM-SHA-256": ["--no-cb"]}


@pytest.mark.smtp_server(allow_ntlmv1=True)  # GNU SASL answers NTLM with NTLMv1
@pytest.mark.parametrize(
    ("mechanism", "reply"),
    [
        ("PLAIN", "235 "),
        ("LOGIN", "235 "),
        ("CRAM-MD5", "235 "),
        ("DIGEST-MD5", "235 "),
        ("NTLM", "235 "),
        ("SCRAM-SHA-1", "235 "),
        ("SCRAM-SHA-256", "235 "),
    ],
)
def test_gsasl_smtp_logon_over_starttls(
    smtp_server: MailServer, mechanism: str, reply: str
) -> None:
    require_programs(GSASL)
    host = smtp_server.host
    run = subprocess.run(
        [
            GSASL,
            "--smtp",
            f"--connect={host}:{smtp_server.port}",
            f"--mechanism={mechanism}",
            "-a",
            SMTP_USER,
            "-p",
            SMTP_PASSWORD,
            f"--x509-ca-file={smtp_server.cafile}",
            f"--hostname={host}",
            f"--realm={host}",
            "--quality-of-protection=qop-auth",
            *NO_CHANNEL_BINDING.get(mechanism, []),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert any(line.startswith(reply) for line in run.stdout.splitlines()), run.stdout + run.stderr


MSMTP = "/usr/bin/msmtp"


@pytest.mark.parametrize(("token", "stored"), [("good-token", True), ("bad-token", False)])
def test_msmtp_oauthbearer_sends_with_a_good_token_and_hears_535_for_a_bad_one(
    serve: Serve, token: str, stored: bool
) -> None:
    # msmtp answers the JSON error challenge with an empty line, not RFC 7628's %x01.
    require_programs(MSMTP)
    subject = f"msmtp {token}"
    run = subprocess.run(
        [MSMTP, "-C", "/dev/null", f"--host={serve.host}", f"--port={serve.port}",
         "--tls=on", "--tls-starttls=on", f"--tls-trust-file={serve.cafile}",
         "--auth=oauthbearer", f"--user={USER}", f"--passwordeval=echo {token}",
         f"--from={USER}@example.test", "--debug", "bob@example.test"],
        input=f"Subject: {subject}\n\nHello.\n", capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert (run.returncode == 0) is stored, run.stdout + run.stderr
    if not stored:
        assert "\n--> \n<-- 535 5.7.8 Authentication credentials invalid" in run.stdout
    subjects = [m.message["Subject"] for m in serve.messages()]
    assert (subject in subjects) is stored
