"""Imports follow use: ``import sasl_kit`` loads the registry table and nothing heavy.

Each check runs a fresh interpreter and reads its ``sys.modules``, so that what
one test imported cannot hide what another would pay (issue 16, docs/bench.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sasl_kit import MechanismInfo, Registry
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.registry import BUILTINS

HEAVY = (
    "aiosmtpd",
    "cryptography",
    "sasl_kit.smtp_server",
    "sasl_kit.protocols",
    "sasl_kit.drivers",
    "sasl_kit.smtp",
    "sasl_kit.probe",
    "importlib.metadata",
    "dataclasses",
    "typing",
)
"""Never loaded by ``import sasl_kit``: servers, ciphers, the protocol floor, metadata."""


def _modules_after(code: str) -> set[str]:
    """The names in ``sys.modules`` after a fresh interpreter ran ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def _loaded(modules: set[str], prefix: str) -> list[str]:
    return sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))


def test_import_sasl_kit_loads_no_mechanism_server_cipher_or_protocol_module() -> None:
    modules = _modules_after("import sasl_kit")
    for heavy in HEAVY:
        assert not _loaded(modules, heavy), heavy
    assert _loaded(modules, "sasl_kit.mechanisms") == [
        "sasl_kit.mechanisms",
        "sasl_kit.mechanisms.base",
    ]


def test_listing_the_registry_imports_no_mechanism_module() -> None:
    modules = _modules_after(
        "import sasl_kit\n"
        "rows = [(i.name, i.strength, i.plaintext, i.channel_binding, i.credential,"
        " i.has_client, i.has_server) for i in sasl_kit.default_registry]\n"
        "assert len(rows) >= 15 and rows[0][0] == 'SCRAM-SHA-512-PLUS'"
    )
    assert _loaded(modules, "sasl_kit.mechanisms") == [
        "sasl_kit.mechanisms",
        "sasl_kit.mechanisms.base",
    ]


@pytest.mark.parametrize(
    ("mechanism", "module"),
    [
        ("CRAM-MD5", "cram_md5"),
        ("PLAIN", "plain"),
        ("DIGEST-MD5", "digest_md5"),
        ("SCRAM-SHA-256", "scram"),
    ],
)
def test_a_mechanism_module_loads_when_its_mechanism_is_first_created(
    mechanism: str, module: str
) -> None:
    modules = _modules_after(
        f"import sasl_kit\nsasl_kit.client({mechanism!r}, username='u', password='p')"
    )
    assert f"sasl_kit.mechanisms.{module}" in modules
    assert "sasl_kit.mechanisms.ntlm" not in modules
    assert not _loaded(modules, "cryptography")


def test_cryptography_loads_for_a_digest_md5_cipher_and_for_ntlm_only() -> None:
    auth = _modules_after(
        "import sasl_kit\n"
        "c = sasl_kit.client('DIGEST-MD5', username='chris', password='secret')\n"
        'c.step(b\'realm="r",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,'
        "algorithm=md5-sess')"
    )
    assert not _loaded(auth, "cryptography")
    ntlm = _modules_after("import sasl_kit\nsasl_kit.client('NTLM', username='u', password='p')")
    assert _loaded(ntlm, "cryptography")


def test_a_scram_login_runs_pbkdf2_without_importing_cryptography() -> None:
    """scram.pbkdf2 uses cryptography's OpenSSL only where it is loaded already."""
    modules = _modules_after(
        "import sasl_kit\n"
        "c = sasl_kit.client('SCRAM-SHA-256', username='user', password='pencil')\n"
        "s = sasl_kit.server('SCRAM-SHA-256', {'user': 'pencil'})\n"
        "s.step(None)\n"
        "c.step(s.step(c.step(s.step(c.step(b'')))))\n"
        "assert c.complete and s.complete"
    )
    assert not _loaded(modules, "cryptography")


def test_the_cli_imports_only_the_command_being_run() -> None:
    modules = _modules_after(
        "from sasl_kit.cli import main\n"
        "main(['respond', 'CRAM-MD5', '--username', 'tim', '--password', 'tanstaaftanstaaf',"
        " 'PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+'])"
    )
    assert _loaded(modules, "sasl_kit.cli") == [
        "sasl_kit.cli",
        "sasl_kit.cli.common",
        "sasl_kit.cli.respond",
    ]
    for heavy in ("aiosmtpd", "cryptography", "sasl_kit.smtp_server", "sasl_kit.probe"):
        assert not _loaded(modules, heavy), heavy


class _Echo(ClientMechanism):
    name = "X-ECHO"


def test_entry_points_are_read_at_the_first_name_the_table_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    groups: list[str] = []
    echo = MechanismInfo("x-echo", _Echo, None, strength=1)
    impostor = MechanismInfo("PLAIN", _Echo, None, strength=99)

    class _Point:
        def __init__(self, info: MechanismInfo) -> None:
            self.info = info

        def load(self) -> MechanismInfo:
            return self.info

    def read(group: str) -> list[_Point]:
        groups.append(group)
        return [_Point(echo), _Point(impostor)]

    monkeypatch.setattr("sasl_kit.registry.entry_points", read)
    registry = Registry(BUILTINS, entry_point_group="test.group")
    assert registry.get("PLAIN").strength == 20
    assert groups == []
    assert "x-echo" in registry
    assert registry.get("X-ECHO") is echo
    assert registry.get("PLAIN").strength == 20  # a built-in is not replaced by an entry point
    assert [i.name for i in registry].count("X-ECHO") == 1
    assert groups == ["test.group"]  # read once


def test_a_lazy_row_equals_the_row_of_its_classes() -> None:
    from sasl_kit.mechanisms.cram_md5 import CramMD5Client, CramMD5Server

    lazy = next(info for info in BUILTINS if info.name == "CRAM-MD5")
    loaded = MechanismInfo("cram-md5", CramMD5Client, CramMD5Server, strength=30)
    assert lazy == loaded and hash(lazy) == hash(loaded)
    assert lazy.client is CramMD5Client and lazy.server is CramMD5Server
    assert "strength=30" in repr(lazy)
