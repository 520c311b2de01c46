"""Every Python example in README.md and docs/ runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)

EXAMPLES = [
    pytest.param(code, id=f"{page.relative_to(ROOT)}#{n}")
    for page in PAGES
    for n, code in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")), 1)
]


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code: str) -> None:
    exec(compile(code, "<doc>", "exec"), {"__name__": "__doc_example__"})  # noqa: S102


USER_PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if p.parent.name != "examples")


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_readme_links_every_user_facing_page(page: Path) -> None:
    assert f"({page.relative_to(ROOT)})" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_cli_page_has_a_section_for_every_command() -> None:
    from sasl_kit.cli import COMMANDS

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert [c for c in COMMANDS if f"\n## `sasl-kit {c}`\n" not in text] == []
    assert [c for c in COMMANDS if f"[`{c}`](#sasl-kit-{c})" not in text] == []  # the list on top


def test_cli_page_probe_section_names_every_scheme_probe_takes() -> None:
    from sasl_kit.probe import SCHEMES

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("\n## `sasl-kit probe`\n", 1)[1].split("\n## ", 1)[0]
    assert [s for s in SCHEMES if f"`{s}://`" not in section] == []


def test_accounts_page_example_loads_and_its_table_names_every_key(tmp_path: Path) -> None:
    """docs/accounts.md's TOML example is a file ``accounts.load`` takes, every account of
    it; its key table lists exactly the keys the loader knows."""
    import argparse

    from sasl_kit.cli import accounts

    text = (ROOT / "docs" / "accounts.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    path = tmp_path / "config.toml"
    path.write_text(example, encoding="utf-8")
    path.chmod(0o600)
    for name in ("work", "relay", None):  # None: the file's default
        account = accounts.load(argparse.Namespace(config=str(path), account=name))
        assert account is not None and account.name == (name or "work")
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    assert rows == accounts._KEYS


def test_cli_page_probe_section_names_each_schemes_tls_upgrade_as_its_profile() -> None:
    from sasl_kit.probe import SCHEMES
    from sasl_kit.protocols import profile

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = " ".join(text.split("\n## `sasl-kit probe`\n", 1)[1].split("\n## ", 1)[0].split())
    written = [
        f"`{scheme}://` ({profile(protocol).tls_upgrade}, {port}"
        for scheme, (protocol, tls, port) in SCHEMES.items()
        if tls == "starttls"
    ]
    assert [w for w in written if w not in section] == []
