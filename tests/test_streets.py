"""Procedural street scenes: ground in perspective, lettered signs, people, use in the sample."""

from __future__ import annotations

import numpy as np
import pytest

from deblurflow.params import DataParams, Params, SampleParams
from deblurflow.sources import fetch_raw
from deblurflow.sources import sample as S
from deblurflow.sources import streets as ST
from deblurflow.typed_config import ParamsError


@pytest.fixture(scope="module")
def pools():
    colours = [S.load_photo(name) for name in ("coffee", "astronaut")]
    textures = [S.load_photo("brick")]
    return colours, textures


@pytest.fixture(scope="module")
def palette(pools):
    return np.concatenate([p.reshape(-1, 3)[::53] for p in pools[0]]).astype(np.float32)


def test_scene_is_deterministic_with_edges_everywhere(pools):
    a = ST.street_scene(np.random.default_rng(1), 180, 320, *pools)
    b = ST.street_scene(np.random.default_rng(1), 180, 320, *pools)
    c = ST.street_scene(np.random.default_rng(2), 180, 320, *pools)
    assert a.shape == (180, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # Facades, signs, paving and people: most 10x10 blocks hold an edge, few are flat.
    blocks = a.astype(np.float32).reshape(18, 10, 32, 10, 3).std(axis=(1, 3)).max(axis=-1)
    assert (blocks > 4).mean() > 0.4


def test_ground_covers_only_below_the_horizon_and_shrinks_with_depth(palette):
    scene = np.full((200, 400, 3), 7.0, np.float32)
    ST._ground(np.random.default_rng(0), scene, palette, horizon=80.0)
    assert np.all(scene[:79] == 7.0)  # the sky and facades above the ground line stay
    assert np.abs(scene[84:] - 7.0).max(axis=-1).min() > 0  # every ground pixel is paved

    # Perspective: the stones' joints repeat faster near the horizon than at the bottom.
    # Count the light-dark crossings of the luminance along a row, far and near.
    def crossings(row: np.ndarray) -> int:
        lum = row.mean(axis=-1)
        return int(np.count_nonzero(np.diff(np.sign(lum - np.median(lum)))))

    far = np.mean([crossings(scene[y]) for y in range(88, 96)])
    near = np.mean([crossings(scene[y]) for y in range(185, 195)])
    assert far > 1.5 * near


def test_sign_carries_lettering_in_contrast_to_its_band(palette):
    scene = np.full((120, 300, 3), 128.0, np.float32)
    ST._sign(np.random.default_rng(3), scene, palette, 0.0, 300.0, 110.0)
    changed = np.abs(scene - 128.0).max(axis=-1) > 0
    ys, xs = np.nonzero(changed)
    band = scene[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].reshape(-1, 3)
    # A flat band would be one colour; the letters are strokes of another colour inside it.
    back = np.median(band, axis=0)
    strokes = np.abs(band - back).max(axis=-1) > 30
    assert 0.03 < strokes.mean() < 0.6


def test_people_stand_on_the_ground_and_shrink_toward_the_horizon(palette):
    def drawn_height(foot: float) -> int:
        scene = np.zeros((300, 300, 3), np.float32)
        ST._person(np.random.default_rng(0), scene, palette, 100.0, foot)
        rows = np.nonzero(np.abs(scene).max(axis=(1, 2)) > 0)[0]
        # Nothing below the feet but the round caps of the legs (half their 7% of h).
        assert rows.max() <= foot + 6
        return int(rows.max() - rows.min())

    near, far = drawn_height(280.0), drawn_height(140.0)
    # Same draws, foot 180 px vs 40 px below the horizon: 4.5x the height, within the
    # anti-aliased rim of the far figure.
    assert near == pytest.approx(4.5 * far, rel=0.15)


def test_sample_renders_streets_for_their_share_of_the_photo_sequences(tmp_path):
    base = dict(train_sequences=4, test_sequences=1, frames=3, width=64, height=48)
    with_streets = SampleParams(**base, dead_leaves=0.5, streets=0.5)
    plain = SampleParams(**base, dead_leaves=0.5)
    for name, sample in (("streets", with_streets), ("plain", plain)):
        fetch_raw(Params(seed=0, data=DataParams(sample=sample)), tmp_path / name, tmp_path)

    def frames(name: str, split: str, seq: int) -> bytes:
        return (tmp_path / name / split / f"sample_{split}_{seq:02d}" / "000001.png").read_bytes()

    # dead_leaves 0.5 takes sequences 1 and 3; streets 0.5 of all = every remaining photo
    # sequence (0 and 2); the dead-leaves sequences and the test split are unchanged.
    assert [S._procedural(i, 0.5) for i in range(4)] == [False, True, False, True]
    for seq in (1, 3):
        assert frames("streets", "train", seq) == frames("plain", "train", seq)
    for seq in (0, 2):
        assert frames("streets", "train", seq) != frames("plain", "train", seq)
    assert frames("streets", "test", 0) == frames("plain", "test", 0)


def test_streets_and_dead_leaves_share_at_most_the_whole_train_split():
    with pytest.raises(ParamsError, match="data.sample.streets"):
        SampleParams(dead_leaves=0.75, streets=0.5)
    assert SampleParams(dead_leaves=0.5, streets=0.5).streets == 0.5
