"""bench/weight_average.py and bench/real_scale.py: the mean of generator files, each row's
scores, and the real pairs at other sizes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deblurflow.models import build_generator, load_generator, save_generator
from deblurflow.params import ModelParams

REPO = Path(__file__).resolve().parents[1]
MODEL = ModelParams(generator="halfres", channels=4, res_blocks=1)


def _files(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        torch.manual_seed(i)
        paths.append(tmp_path / f"g{i}.pt")
        save_generator(paths[-1], build_generator(MODEL), MODEL, steps=i)
    return paths


@pytest.mark.slow
def test_the_mean_of_generator_files_is_saved_and_scored(tmp_path):
    paths = _files(tmp_path, 3)
    script = str(REPO / "bench" / "weight_average.py")
    cmd = [sys.executable, script, *map(str, paths), "--out", str(tmp_path / "mean.pt")]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    states = [load_generator(p)[0].state_dict() for p in paths]
    mean, info = load_generator(tmp_path / "mean.pt")
    for key, value in mean.state_dict().items():
        expected = (states[0][key] + states[1][key] + states[2][key]) / 3
        torch.testing.assert_close(value, expected)
    assert info["averaged"] == [str(p) for p in paths]
    rows = re.findall(r"^\| (.+?) \| 25\.44 -> (\d+\.\d\d) \(([+-]\d+\.\d\d)\) \|", out, re.M)
    assert [r[0] for r in rows] == ["g0.pt", "g1.pt", "g2.pt", "mean of the 3"]
    for _, psnr, gain in rows:  # the real pairs' input at 640 px is 25.44 dB
        assert float(gain) == pytest.approx(float(psnr) - 25.44, abs=0.006)


@pytest.mark.slow
def test_real_scale_scores_the_pairs_at_each_size(tmp_path):
    (path,) = _files(tmp_path, 1)
    script = str(REPO / "bench" / "real_scale.py")
    cmd = [sys.executable, script, "--model", str(path), "--sizes", "1280", "640"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    rows = re.findall(r"^\| g0\.pt \| (\d+) \| (\d+\.\d\d) -> ", out, re.M)
    # the blurred inputs: 24.58 dB at the frames' own 1280 px, 25.44 at 640 (data/real/README.md)
    assert rows == [("1280", "24.58"), ("640", "25.44")]
