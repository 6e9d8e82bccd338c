"""bench/domain_gap.py: the kernel estimate it rests on, the re-blur, and the table end to end."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import common  # noqa: E402
import domain_gap  # noqa: E402

from deblurflow.evaluation import evaluate_real  # noqa: E402
from deblurflow.models import load_generator  # noqa: E402
from deblurflow.runtime import pick_runtime  # noqa: E402


def _texture(h: int = 160, w: int = 192, seed: int = 0) -> np.ndarray:
    """A grey image with edges at every scale (summed smoothed noise), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w), np.float32)
    for sigma in (0.7, 2.0, 6.0):
        out += cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), sigma) * sigma
    return (out - out.min()) / (out.max() - out.min())


def _blurred(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, np.ascontiguousarray(k[::-1, ::-1]), borderType=cv2.BORDER_REFLECT)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_estimate_kernel_recovers_a_known_motion_kernel():
    sharp = _texture()
    true = np.zeros((31, 31), np.float32)
    line = common.line_kernel(9, math.radians(30))  # 11 x 11
    true[10:21, 10:21] = line
    k = common.estimate_kernel(sharp, _blurred(sharp, true))
    assert k.shape == (31, 31) and k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-5)
    assert _correlation(k, true) > 0.9
    yy, xx = np.mgrid[:31, :31] - 15
    assert abs((k * xx).sum()) < 0.5 and abs((k * yy).sum()) < 0.5  # centred like the truth
    # The same line at another angle is not what was estimated (the check can fail).
    other = np.zeros_like(true)
    other[10:21, 10:21] = common.line_kernel(9, math.radians(120))
    assert _correlation(k, other) < 0.3


def test_reblur_reproduces_a_uniformly_blurred_frame():
    grey = _texture(180, 256, seed=1)
    sharp = np.clip(np.stack([grey, grey**1.2, grey**0.8], 2) * 255, 0, 255).astype(np.uint8)
    light = (sharp / 255.0).astype(np.float32) ** 2.2
    true = np.zeros((31, 31), np.float32)
    true[11:20, 11:20] = common.line_kernel(7, math.radians(75))  # 9 x 9
    blurred = np.clip(255 * _blurred(light, true) ** (1 / 2.2) + 0.5, 0, 255).astype(np.uint8)
    again = domain_gap.reblur(sharp, blurred, 2.2, tile=128)
    assert again.shape == sharp.shape and again.dtype == np.uint8

    def error(img: np.ndarray) -> float:  # away from the frame's border
        return float(np.abs(img.astype(int) - blurred.astype(int))[16:-16, 16:-16].mean())

    assert error(again) < 1.0
    # In the wrong light (sRGB values instead of linear), the re-blur no longer matches.
    assert error(domain_gap.reblur(sharp, blurred, 1.0, tile=128)) > 2 * error(again)
    # best_gamma tells the two averagings apart.
    assert domain_gap.best_gamma(sharp, blurred)[0] == 2.2
    values = np.clip(_blurred(sharp.astype(np.float32), true) + 0.5, 0, 255).astype(np.uint8)
    gamma, resid, _ = domain_gap.best_gamma(sharp, values)
    assert gamma == 1.0 and resid[1.0] > resid[2.2] + 3


@pytest.mark.slow
def test_domain_gap_table_on_the_real_pairs(make_prepared):
    data = make_prepared(h=72, w=96)  # a fresh clone has no data/prepared
    cmd = [
        sys.executable,
        str(REPO / "bench" / "domain_gap.py"),
        "--steps",
        "2",
        "--data",
        str(data),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and "->" in line]
    labels = ["real blur", "sharp x real kernels", "tuned on sharp x kernels",
              "tuned on the sample", "tuned on the sample x lines",
              "tuned on the sample x real kernels", "tuned on real blur",
              "adapted to each photo, told its kernels",
              "adapted to each photo, blind"]  # fmt: skip
    assert [r.split(" | ")[0][2:] for r in rows] == labels
    # The real-blur row is the evaluate stage's score of the shipped model on the two pairs.
    generator, _ = load_generator(REPO / "models/pretrained/deblurflow.pt")
    _, scored = evaluate_real(generator, [REPO / "data/real/gopro-real"], 640,
                              pick_runtime("cpu", "fp32"))  # fmt: skip
    for r in scored:
        gain = r["psnr"] - r["input_psnr"]
        assert f"{r['input_psnr']:.2f} -> {r['psnr']:.2f} (**{gain:+.2f}**)" in rows[0]
    resid = next(line for line in out.splitlines() if line.startswith("resid"))
    assert re.search(r"Flower [\d.]+ / [\d.]+ dB, Istanbul [\d.]+ / [\d.]+ dB", resid)
