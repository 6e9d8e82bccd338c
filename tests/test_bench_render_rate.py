"""bench/render_rate.py: both rates are measured and the cores figure is their ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_render_rate_prints_both_rates_and_their_ratio(make_prepared):
    data = make_prepared(h=72, w=96)
    cmd = [sys.executable, str(REPO / "bench" / "render_rate.py"), "--data", str(data),
           "--sequences", "2", "--steps", "2", "--crops-per-pair", "4"]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    pairs, rate = re.search(
        r"\(a\) render \+ synthesize: (\d+) pairs, ([\d.]+) pairs/s", out
    ).groups()
    # the default sample: 35 frames per sequence make 5 windows of 7; 2 train + 1 test sequences
    assert int(pairs) == 15
    crops = float(re.search(r"\(b\) GAN training: (\d+) crops/s", out).group(1))
    cores = float(re.search(r"needs ([\d.]+) cores", out).group(1))
    assert float(rate) > 0 and crops > 0
    assert cores == pytest.approx(crops / 4 / float(rate), rel=0.05, abs=0.06)
