"""``sasl-kit probe xmpp://...`` against the private Prosody 0.12 (tests/interop/xmpp.py).

Each probe runs as its own ``sasl-kit`` process, so that TLS 1.2 can be asked for
the way a user does it: an OpenSSL configuration (``OPENSSL_CONF``) with
``MaxProtocol = TLSv1.2``, where Prosody offers SCRAM-SHA-1-PLUS (tls-unique,
PEERS.md). The URL names the address, which the fixture also serves as an XMPP
domain. Expected lists: Prosody's (docs/protocols/xmpp.md), compared as sets
since Prosody's order changes between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.interop.mta import HOST
from tests.interop.peers import ALICE
from tests.interop.xmpp import Prosody

TLS12 = """\
openssl_conf = openssl_init

[openssl_init]
ssl_conf = ssl_sect

[ssl_sect]
system_default = system_default_sect

[system_default_sect]
MaxProtocol = TLSv1.2
"""


def probe(
    server: Prosody, tmp_path: Path, *args: str, tls12: bool = False
) -> tuple[int, dict[str, Any]]:
    env = dict(os.environ)
    if tls12:
        conf = tmp_path / "tls12.cnf"
        conf.write_text(TLS12, encoding="utf-8")
        env["OPENSSL_CONF"] = str(conf)
    argv = [sys.executable, "-m", "sasl_kit", "probe", f"xmpp://{HOST}:{server.port}"]
    done = subprocess.run(
        [*argv, "--cafile", server.cafile, "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


def login(tmp_path: Path, password: str) -> tuple[str, ...]:
    secret = tmp_path / "password"
    secret.write_text(password + "\n", encoding="utf-8")
    return ("--username", ALICE.user, "--password-file", str(secret))


@pytest.mark.parametrize(
    ("tls12", "after"),
    [(False, {"PLAIN", "SCRAM-SHA-1"}), (True, {"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"})],
    ids=["tls1.3", "tls1.2"],
)
def test_probe_lists_nothing_before_tls_and_prosodys_mechanisms_after(
    prosody_server: Prosody, tmp_path: Path, tls12: bool, after: set[str]
) -> None:
    status, report = probe(prosody_server, tmp_path, tls12=tls12)
    assert status == 0
    assert (report["protocol"], report["tls"]) == ("xmpp", "starttls")
    assert report["before_tls"] == [] and set(report["after_tls"]) == after


def test_every_mechanism_prosody_offers_works_with_the_right_password(
    prosody_server: Prosody, tmp_path: Path
) -> None:
    argv = (*login(tmp_path, ALICE.password), "--channel-binding", "tls-unique")
    status, report = probe(prosody_server, tmp_path, *argv, tls12=True)
    outcomes = {a["mechanism"]: a["outcome"] for a in report["attempts"]}
    assert outcomes == {"PLAIN": "ok", "SCRAM-SHA-1": "ok", "SCRAM-SHA-1-PLUS": "ok"}
    assert status == 0


def test_a_wrong_password_is_rejected_by_every_mechanism(
    prosody_server: Prosody, tmp_path: Path
) -> None:
    argv = (*login(tmp_path, "not-" + ALICE.password), "--channel-binding", "tls-unique")
    status, report = probe(prosody_server, tmp_path, *argv, tls12=True)
    attempts = report["attempts"]
    assert {a["outcome"] for a in attempts} == {"rejected"} and len(attempts) == 3
    assert all(a["detail"].startswith("not-authorized") for a in attempts)
    assert status != 0
