"""Real blur/sharp pair folders: the three layouts, clear errors, and their evaluation."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deblurflow.evaluation import evaluate_real
from deblurflow.images import write_png
from deblurflow.metrics import psnr, ssim
from deblurflow.models import build_generator
from deblurflow.params import ModelParams, ParamsError, parse_params
from deblurflow.real_pairs import RealPairsError, find_pairs, load_pair
from deblurflow.runtime import pick_runtime


def _img(seed: int, h: int = 36, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pair(blur: Path, sharp: Path, seed: int) -> None:
    write_png(sharp, _img(seed))
    write_png(blur, cv2.blur(_img(seed), (5, 1)))


def test_gopro_layout(tmp_path):
    for seq in ("GOPR0384_11_00", "GOPR0385_11_01"):
        for i in (1, 2):
            name = f"{i:06d}.png"
            _pair(tmp_path / seq / "blur_gamma" / name, tmp_path / seq / "sharp" / name, i)
    pairs = find_pairs(tmp_path)
    assert [p.name for p in pairs] == [
        "GOPR0384_11_00/000001.png", "GOPR0384_11_00/000002.png",
        "GOPR0385_11_01/000001.png", "GOPR0385_11_01/000002.png",
    ]  # fmt: skip
    assert pairs[0].blur.parent.name == "blur_gamma" and pairs[0].sharp.parent.name == "sharp"


def test_flat_folders_and_flat_files(tmp_path):
    _pair(tmp_path / "a" / "blur" / "x.png", tmp_path / "a" / "sharp" / "x.png", 0)
    assert [p.name for p in find_pairs(tmp_path / "a")] == ["x.png"]
    _pair(tmp_path / "b" / "Flower_blur.png", tmp_path / "b" / "Flower_sharp.png", 1)
    _pair(tmp_path / "b" / "City_blur.png", tmp_path / "b" / "City_sharp.png", 2)
    pairs = find_pairs(tmp_path / "b")
    assert [p.name for p in pairs] == ["City", "Flower"]
    blur, sharp = load_pair(pairs[0], 32)  # long side 64 -> 32, aspect kept
    assert blur.shape == sharp.shape == (18, 32, 3)
    expected = cv2.resize(_img(2), (32, 18), interpolation=cv2.INTER_AREA)
    assert np.array_equal(sharp, expected)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.mkdir(), "no blur/sharp pairs found"),
        (lambda d: write_png(d / "blur" / "x.png", _img(0)) or (d / "sharp").mkdir(),
         "no sharp partner"),
        (lambda d: write_png(d / "City_blur.png", _img(0)), "no sharp partner City_sharp"),
    ],
)  # fmt: skip
def test_bad_folders_get_one_clear_error(tmp_path, make, message):
    folder = tmp_path / "real"
    make(folder)
    with pytest.raises(RealPairsError, match=message):
        find_pairs(folder)


def test_pairs_of_different_sizes_are_refused(tmp_path):
    write_png(tmp_path / "x_blur.png", _img(0))
    write_png(tmp_path / "x_sharp.png", _img(0, 40, 64))
    with pytest.raises(ValueError, match="differ in size"):
        load_pair(find_pairs(tmp_path)[0], None)


def test_real_pairs_params():
    ev = parse_params({"evaluate": {"real_pairs": ["a", "b"], "real_size": 640}}).evaluate
    assert ev.real_pairs == ("a", "b") and ev.real_size == 640
    with pytest.raises(ParamsError, match="'evaluate.real_size'"):
        parse_params({"evaluate": {"real_size": 4}})


def _identity() -> torch.nn.Module:
    # The untrained global-residual ResNet is exactly the identity (zero last conv).
    return build_generator(ModelParams(channels=4, res_blocks=1))


def test_evaluate_real_on_the_real_gopro_pairs(real_data, tmp_path):
    folder = real_data / "gopro-real"
    summary, rows = evaluate_real(_identity(), [folder], 640, pick_runtime("cpu"), tmp_path)
    # By hand: INTER_AREA to 640x360, then PSNR of blur against sharp (the identity's output).
    expected = []
    for name in ("Flower", "Istanbul"):
        b, s = (
            cv2.resize(cv2.imread(str(folder / f"{name}_{k}.png"))[:, :, ::-1], (640, 360),
                       interpolation=cv2.INTER_AREA)
            for k in ("blur", "sharp")
        )  # fmt: skip
        expected.append((psnr(s, b), ssim(s, b)))
    assert [r["frame"] for r in rows] == ["Flower", "Istanbul"]
    assert [r["sequence"] for r in rows] == ["real:gopro-real"] * 2
    assert summary["real_images"] == 2
    assert summary["real_input_psnr"] == pytest.approx(np.mean([e[0] for e in expected]))
    assert summary["real_psnr"] == pytest.approx(summary["real_input_psnr"])
    assert summary["real_gain_psnr"] == pytest.approx(0.0, abs=1e-9)
    assert summary["real_input_ssim"] == pytest.approx(np.mean([e[1] for e in expected]))
    assert 24.0 < summary["real_input_psnr"] < 26.5  # 24.62 (Istanbul) and 26.26 (Flower)
    assert len(list(tmp_path.glob("*real_gopro-real*.png"))) == 2


def test_missing_folders_are_skipped_and_several_get_their_own_keys(tmp_path, caplog):
    for name in ("setA", "setB"):
        _pair(tmp_path / name / "x_blur.png", tmp_path / name / "x_sharp.png", len(name))
    rt = pick_runtime("cpu")
    with caplog.at_level(logging.WARNING):
        summary, rows = evaluate_real(
            _identity(), [tmp_path / "setA", tmp_path / "nope", tmp_path / "setB"], None, rt
        )
    assert "nope: no such folder; skipped" in caplog.text
    assert summary["real_images"] == 2 and summary["real_setA_images"] == 1
    assert summary["real_setB_psnr"] == pytest.approx(rows[1]["psnr"])
    assert evaluate_real(_identity(), [tmp_path / "nope"], None, rt) == ({}, [])
