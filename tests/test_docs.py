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
