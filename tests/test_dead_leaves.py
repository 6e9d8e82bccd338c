"""Procedural dead-leaves scenes: radius law, coverage, determinism, use in the sample."""

from __future__ import annotations

import numpy as np
import pytest

from deblurflow.params import DataParams, Params, SampleParams
from deblurflow.sources import dead_leaves as DL
from deblurflow.sources import fetch_raw
from deblurflow.sources import sample as S


def test_radius_follows_the_inverse_cube_law():
    r = DL._radius(np.random.default_rng(0), 50.0, 200_000)
    a, b = DL.R_MIN, 50.0
    assert r.min() >= a and r.max() <= b
    # CDF of the density ~ r^-3 on [a, b]: F(r) = (a^-2 - r^-2) / (a^-2 - b^-2), so the
    # q-quantile is (a^-2 - q (a^-2 - b^-2))^-1/2; with a = 2, b = 50: median
    # 0.1252^-1/2 = 2.8262, 90th percentile 0.02536^-1/2 = 6.2795.
    for q in (0.5, 0.9):
        expected = (a**-2 - q * (a**-2 - b**-2)) ** -0.5
        assert np.quantile(r, q) == pytest.approx(expected, rel=0.01)
    assert (a**-2 - 0.5 * (a**-2 - b**-2)) ** -0.5 == pytest.approx(2.8262, abs=1e-4)


@pytest.fixture(scope="module")
def palettes():
    colours = [S.load_photo(name) for name in ("coffee", "chelsea")]
    textures = [S.load_photo("brick")]
    return colours, textures


def test_scene_is_covered_with_many_edges_and_is_deterministic(palettes):
    colours, textures = palettes
    a = DL.dead_leaves(np.random.default_rng(3), 120, 200, colours, textures)
    b = DL.dead_leaves(np.random.default_rng(3), 120, 200, colours, textures)
    c = DL.dead_leaves(np.random.default_rng(4), 120, 200, colours, textures)
    assert a.shape == (120, 200, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # Many distinct colours (leaves), and edges everywhere: most 8x8 blocks are not flat.
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 500
    blocks = a.astype(np.float32).reshape(15, 8, 25, 8, 3).std(axis=(1, 3)).max(axis=-1)
    assert (blocks > 4).mean() > 0.5


def test_colours_come_from_the_photos(palettes):
    colours, _ = palettes
    scene = DL.dead_leaves(np.random.default_rng(5), 96, 96, [colours[0]], [])
    # No textures and a single photo: the scene's mean colour is near that photo's mean colour.
    assert np.abs(scene.reshape(-1, 3).mean(0) - colours[0].reshape(-1, 3).mean(0)).max() < 40


@pytest.mark.parametrize(
    ("share", "n", "expected"), [(0.0, 6, 0), (0.5, 6, 3), (0.25, 8, 2), (1.0, 4, 4)]
)
def test_procedural_share_is_evenly_spread(share, n, expected):
    picked = [i for i in range(n) if S._procedural(i, share)]
    assert len(picked) == expected
    if expected > 1:
        assert np.ptp(np.diff(picked)) <= 1  # evenly spaced


def test_scikit_learn_photos_load_as_rgb():
    for name in S.SKLEARN_PHOTOS:
        image = S.load_photo(name)
        assert image.dtype == np.uint8 and image.shape == (427, 640, 3)
        assert image.std() > 20  # a photograph, not a blank


def test_sample_renders_dead_leaves_train_sequences_only(tmp_path):
    sample = SampleParams(
        train_sequences=2, test_sequences=1, frames=3, width=64, height=48, dead_leaves=0.5
    )
    fetch_raw(Params(seed=0, data=DataParams(sample=sample)), tmp_path / "raw", tmp_path)
    frames = sorted((tmp_path / "raw").glob("*/*/*.png"))
    assert len(frames) == 3 * 3
    plain = SampleParams(train_sequences=2, test_sequences=1, frames=3, width=64, height=48)
    fetch_raw(Params(seed=0, data=DataParams(sample=plain)), tmp_path / "plain", tmp_path)
    same = [
        (tmp_path / "raw" / p.relative_to(tmp_path / "plain")).read_bytes() == p.read_bytes()
        for p in sorted((tmp_path / "plain").glob("*/*/*.png"))
    ]
    # Sequence 0 keeps its photo; sequence 1 (train) becomes a dead-leaves scene; test is unchanged.
    by_seq = {}
    for p, eq in zip(sorted((tmp_path / "plain").glob("*/*/*.png")), same):
        by_seq.setdefault(p.parent.name, []).append(eq)
    assert all(by_seq["sample_train_00"]) and all(by_seq["sample_test_00"])
    assert not any(by_seq["sample_train_01"])
