"""Camera effects on the train split's blur (saturation, noise before the tone curve, JPEG):
values by hand, the test split untouched, reproducible pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deblurflow.blur import CameraEffects, _encode, blur_from_linear, record
from deblurflow.images import read_rgb, write_png
from deblurflow.params import BlurParams, ParamsError
from deblurflow.synthesize import synthesize_tree


def _frames(values: list[float], shape=(4, 5, 3)) -> list[np.ndarray]:
    return [np.full(shape, v, np.float32) for v in values]


def test_inactive_effects_are_the_plain_average():
    rng = np.random.default_rng(0)
    linear = [rng.random((6, 7, 3), dtype=np.float32) for _ in range(3)]
    blurred, sharp = record(linear, 1, 2.2, CameraEffects(), np.random.default_rng(1))
    np.testing.assert_array_equal(blurred, blur_from_linear(linear, 2.2))
    np.testing.assert_array_equal(sharp, _encode(linear[1], 2.2))
    assert not CameraEffects().active and CameraEffects(jpeg=50).active


def test_saturation_clips_after_the_average_so_highlights_smear_at_full_brightness():
    # One bright frame (0.9) among two dark ones (0.0): gain g then a clip at white.
    effects = CameraEffects(saturation=3.0)
    g = np.random.default_rng(5).uniform(1.0, 3.0)  # the first draw of record's stream
    blurred, sharp = record(_frames([0.0, 0.9, 0.0]), 1, 1.0, effects, np.random.default_rng(5))
    # By hand: mean = 0.3, x g, clipped to 1 -> 255 * min(1, 0.3 g); sharp = min(1, 0.9 g).
    assert blurred[0, 0, 0] == np.floor(255 * min(1.0, 0.3 * g) + 0.5)
    assert sharp[0, 0, 0] == 255  # 0.9 g > 1 for g > 1.12 (g = 2.6 with this seed)
    assert g > 1.2
    # Clipping each frame first (the wrong order) would give 255 * min(1, 0.9 g) / 3 instead.
    assert blurred[0, 0, 0] != np.floor(255 * min(1.0, 0.9 * g) / 3 + 0.5)


def test_noise_is_added_in_linear_light_with_shot_and_read_parts():
    effects = CameraEffects(noise=0.02)
    shape = (200, 200, 3)
    rng = np.random.default_rng(3)
    rng.uniform(1.0, 1.0)  # the gain draw
    read = rng.uniform(0.0, 0.02)
    for level in (0.05, 0.5):
        blurred, sharp = record(
            _frames([level] * 3, shape), 1, 1.0, effects, np.random.default_rng(3)
        )
        std = (blurred.astype(np.float64) / 255).std()
        expected = read * np.sqrt(1 + 4 * level)  # plus the 8-bit rounding, 1 / (255 sqrt 12)
        assert std == pytest.approx(np.hypot(expected, 1 / (255 * 12**0.5)), rel=0.05)
        assert np.all(sharp == np.floor(255 * level + 0.5))  # the ground truth stays clean


def test_jpeg_compresses_the_blur_only():
    rng = np.random.default_rng(0)
    linear = [rng.random((32, 32, 3), dtype=np.float32) ** 3 for _ in range(3)]
    plain, _ = record(linear, 1, 2.2, CameraEffects(), np.random.default_rng(0))
    jpeg, sharp = record(linear, 1, 2.2, CameraEffects(jpeg=30), np.random.default_rng(0))
    assert np.abs(jpeg.astype(int) - plain).mean() > 1.0
    np.testing.assert_array_equal(sharp, _encode(linear[1], 2.2))


def _raw(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for t in range(6):
            frame = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
            write_png(root / split / "seq" / f"{t:06d}.png", frame)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_synthesize_applies_effects_to_train_only_and_reproducibly(tmp_path):
    _raw(tmp_path / "raw")
    plain = BlurParams(frames=3, workers=1)
    effects = BlurParams(frames=3, workers=1, saturation=2.0, noise=0.01, jpeg=60)
    synthesize_tree(tmp_path / "raw", tmp_path / "plain", plain)
    manifest = synthesize_tree(tmp_path / "raw", tmp_path / "a", effects)
    synthesize_tree(tmp_path / "raw", tmp_path / "b", effects)
    a, b, p = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "plain")
    assert a == b  # the same pairs on every run
    assert {k: v for k, v in a.items() if k.startswith("test/")} == {
        k: v for k, v in p.items() if k.startswith("test/")
    }
    blur_a = read_rgb(tmp_path / "a/train/seq/blur/000001.png").astype(int)
    blur_p = read_rgb(tmp_path / "plain/train/seq/blur/000001.png").astype(int)
    assert np.abs(blur_a - blur_p).mean() > 2
    assert manifest["camera_effects"] == {
        "splits": ["train"],
        "saturation": 2.0,
        "noise": 0.01,
        "jpeg": 60,
    }
    saved = json.loads((tmp_path / "a/manifest.json").read_text())
    assert saved["camera_effects"]["jpeg"] == 60


@pytest.mark.parametrize(
    "field, value", [("saturation", 0.5), ("noise", -0.1), ("noise", 0.5), ("jpeg", 5)]
)
def test_out_of_range_effects_name_the_key(field, value):
    with pytest.raises(ParamsError, match=f"blur.{field}"):
        BlurParams(**{field: value})
