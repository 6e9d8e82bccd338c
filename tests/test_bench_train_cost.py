"""bench/train_cost.py: the width and batch table, and the child held to AVX2 kernels in fp32."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(prepared: Path, *extra: str) -> str:
    cmd = [sys.executable, str(REPO / "bench" / "train_cost.py"), "--widths", "16", "8",
           "--data", str(prepared), "--steps", "2", "--warmup", "1", "--rounds", "1",
           *extra]  # fmt: skip
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout


def _rows(out: str) -> dict[tuple[int, int], tuple[float, float, float]]:
    pattern = r"^\| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| [\d.]+ \|$"
    rows = re.findall(pattern, out, re.M)
    return {(int(w), int(b)): (float(r), float(c), float(x)) for w, b, r, c, x in rows}


@pytest.mark.slow
def test_widths_are_measured_side_by_side(make_prepared):
    rows = _rows(_run(make_prepared(h=72, w=96)))
    assert sorted(rows) == [(8, 8), (16, 8)]  # the params' batch_size
    assert rows[16, 8][2] == 1.0  # the first width is the reference
    assert rows[8, 8][2] == pytest.approx(rows[8, 8][0] / rows[16, 8][0], abs=0.01)


@pytest.mark.slow
def test_batches_are_measured_side_by_side(make_prepared):
    rows = _rows(_run(make_prepared(h=72, w=96), "--batches", "2", "4"))
    assert sorted(rows) == [(8, 2), (8, 4), (16, 2), (16, 4)]
    for (_, batch), (rate, crops, _) in rows.items():
        assert crops == pytest.approx(rate * batch, abs=0.1)
    assert rows[8, 4][2] == pytest.approx(rows[8, 4][0] / rows[16, 2][0], abs=0.01)


@pytest.mark.slow
def test_isa_avx2_holds_torch_to_avx2_and_fp32(make_prepared):
    out = _run(make_prepared(h=72, w=96), "--isa", "avx2")
    assert "kernels AVX2;" in out and ", fp32, " in out
    assert sorted(_rows(out)) == [(8, 8), (16, 8)]
