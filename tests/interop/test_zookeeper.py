"""kazoo (from PyPI) logs in to a real ZooKeeper 3.8 with DIGEST-MD5 through the pure-sasl
drop-in, and the same test passes with the real pure-sasl 0.6, so the comparison is honest."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import require_programs
from tests.interop.zookeeper import JARS, JAVA, PASSWORD, ZooKeeper, zookeeper

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]
IMPLEMENTATIONS = ("kit", "pure-sasl")


@pytest.fixture(scope="module")
def server() -> Iterator[ZooKeeper]:
    # The jar is not executable: ask require_programs only about files that are missing,
    # so that it skips (or, in CI, fails) naming them.
    require_programs(*(path for path in (JAVA, *JARS) if not Path(path).exists()))
    with zookeeper() as running:
        yield running


def kazoo(server: ZooKeeper, password: str, which: str, node: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.interop.kazoo_client", server.hosts, password, which, node],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return report


@pytest.mark.parametrize("which", IMPLEMENTATIONS)
def test_kazoo_writes_and_reads_a_sasl_guarded_znode(server: ZooKeeper, which: str) -> None:
    report = kazoo(server, PASSWORD, which, f"/sasl-kit-{which}")
    assert report.get("error") is None, report
    expected = "sasl_kit.compat.puresasl" if which == "kit" else "puresasl"
    assert report["puresasl"] == expected
    assert report["data"] == "written through SASL"
    assert report["acl"] == ["sasl", "alice", 31]  # 31: Perms.ALL


@pytest.mark.parametrize("which", IMPLEMENTATIONS)
def test_kazoo_with_a_wrong_password_is_refused(server: ZooKeeper, which: str) -> None:
    report = kazoo(server, "not-" + PASSWORD, which, f"/sasl-kit-wrong-{which}")
    # ZooKeeper drops the session: kazoo's connection thread raises
    # SessionClosedRequireSaslError and the caller's request fails with ConnectionLoss.
    assert report["error"] == "ConnectionLoss", report
    assert "SessionClosedRequireSaslError" in report["thread_errors"]
    assert "data" not in report
