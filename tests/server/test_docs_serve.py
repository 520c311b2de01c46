"""docs/serve.md runs as written: its console and Python blocks, in order, in an empty directory.

The blocks are joined into one bash script, in page order (a ``console``
block as it stands, less each line's ``$ ``; a ``python`` block as
``python - <<'EOF'``), and run in a fresh directory with this checkout's
``sasl-kit`` and ``python`` first on PATH. The one change: port 2525 becomes
a free port, since a test never listens on a fixed one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.interop.mta import free_ports

PAGE = Path(__file__).resolve().parents[2] / "docs" / "serve.md"
BLOCK = re.compile(r"```(console|python)\n(.*?)```", re.DOTALL)
# If a step fails, stop the background server before bash exits.
PROLOGUE = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"


def script(text: str, port: int) -> str:
    steps = []
    for kind, code in BLOCK.findall(text):
        if kind == "python":
            steps.append(f"python - <<'PYTHON'\n{code}PYTHON\n")
        else:
            steps.append(re.sub(r"^\$ ", "", code, flags=re.MULTILINE))
    return PROLOGUE + "".join(steps).replace("2525", str(port))


def test_the_page_has_the_walk_through() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "sasl-kit serve --listen 127.0.0.1:2525" in script(text, 2525)
    assert script(text, 2525).rstrip().endswith("wait")


def test_every_example_of_docs_serve_md_runs_top_to_bottom_in_an_empty_directory(
    tmp_path: Path,
) -> None:
    (port,) = free_ports(1)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(
        ["bash", "-c", script(PAGE.read_text(encoding="utf-8"), port)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sent: 250 2.0.0 OK stored as " in run.stdout
    assert "1 passed" in run.stdout  # the pytest fixture example
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 1
