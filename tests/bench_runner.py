"""Runs a bench script the way its smoke tests need: ``--quick``, from the repository root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str) -> str:
    """stdout of ``bench/SCRIPT --quick ARGS``; the run must exit 0 (timings are never checked)."""
    result = subprocess.run(
        [sys.executable, f"bench/{script}", "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
