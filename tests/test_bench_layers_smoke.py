"""bench/layers.py runs and prints a row per layer and implementation; no timing is asserted."""

from __future__ import annotations

import json

from tests.bench_runner import run_bench

LAYERS = ("auth-int", *(f"auth-conf {c}" for c in ("rc4", "3des", "rc4-56", "des", "rc4-40")))
IMPLEMENTATIONS = ("floor (cryptography)", "floor + MAC", "sasl-kit", "sasl-kit framed")


def _bench(*args: str) -> str:
    return run_bench("layers.py", *args)


def test_a_quick_run_prints_a_row_for_every_layer_and_implementation() -> None:
    lines = _bench().splitlines()
    assert lines[0].split() == ["layer", "implementation", "MB/s", "x", "floor"]
    for layer in LAYERS:
        for implementation in IMPLEMENTATIONS:
            assert any(line.startswith(f"{layer:<18}{implementation} ") for line in lines), (
                layer,
                implementation,
            )


def test_json_output_has_every_row() -> None:
    report = json.loads(_bench("--json", "--size", "1000"))
    rows = {(row["layer"], row["implementation"]) for row in report["rows"]}
    assert rows == {(layer, i) for layer in LAYERS for i in IMPLEMENTATIONS}
    assert report["message_octets"] == 1000
