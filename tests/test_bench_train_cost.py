"""bench/train_cost.py: the width table, and the child held to AVX2 kernels in fp32."""

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


def _rows(out: str) -> dict[int, tuple[float, float]]:
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", out, re.M)
    return {int(w): (float(rate), float(ratio)) for w, rate, ratio, _ in rows}


@pytest.mark.slow
def test_widths_are_measured_side_by_side(make_prepared):
    rows = _rows(_run(make_prepared(h=72, w=96)))
    assert sorted(rows) == [8, 16]
    assert rows[16][1] == 1.0  # the first width is the reference
    assert rows[8][1] == pytest.approx(rows[8][0] / rows[16][0], abs=0.01)


@pytest.mark.slow
def test_isa_avx2_holds_torch_to_avx2_and_fp32(make_prepared):
    out = _run(make_prepared(h=72, w=96), "--isa", "avx2")
    assert "kernels AVX2;" in out and ", fp32, " in out
    assert sorted(_rows(out)) == [8, 16]
