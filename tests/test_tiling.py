"""Tiled inference: tile layout, equality with whole-frame output, bounded peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from deblurflow.models import HalfResGenerator, ResNetGenerator
from deblurflow.tiling import deblur_tiled, ramp, self_ensemble, tile_starts, torch_runner


@pytest.mark.parametrize(
    "length,tile,overlap,starts,size",
    [
        (1280, 1024, 64, [0, 608], 672),  # evenly spread, not 1024 + a 768 px overlap
        (720, 1024, 64, [0], 720),
        (100, 40, 8, [0, 30, 61], 39),
        (100, 0, 8, [0], 100),  # tile 0 = whole frame
    ],
)
def test_tile_starts(length, tile, overlap, starts, size):
    assert tile_starts(length, tile, overlap) == (starts, size)


@pytest.mark.parametrize("tile,overlap", [(64, 16), (100, 20), (33, 0), (512, 64)])
def test_tiles_cover_and_overlap_for_every_length(tile, overlap):
    for length in range(1, 1500, 7):
        starts, size = tile_starts(length, tile, overlap)
        assert size <= max(tile, length) if length <= tile else size <= tile
        assert starts[0] == 0 and starts[-1] + size == length
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(size - g >= overlap - 1 for g in gaps)  # neighbours overlap (floor: -1)


@pytest.mark.parametrize("tile,overlap,align", [(64, 16, 4), (100, 20, 8), (512, 64, 2)])
def test_aligned_tiles_start_on_the_grid_and_still_overlap(tile, overlap, align):
    for length in range(1, 1500, 7):
        starts, size = tile_starts(length, tile, overlap, align)
        assert all(s % align == 0 for s in starts)
        assert starts[0] == 0 and starts[-1] + size == length
        assert size <= max(tile, length) if length <= tile else size < tile + align
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(size - g >= overlap for g in gaps)


def test_halfres_tiles_equal_the_whole_frame():
    # pixel-unshuffle reads 2x2 blocks: a tile starting on an odd pixel would see every block
    # shifted, i.e. different input channels (the bug this guards against: 18 dB off).
    torch.manual_seed(0)
    g = HalfResGenerator(8, 1).eval()  # 4 convs at half resolution: radius 8-9 px
    with torch.no_grad():
        g.tail.weight.normal_(0, 0.1)
    run = torch_runner(g)
    assert run.multiple == 4
    img = np.random.default_rng(3).integers(0, 65536, (150, 231, 3), dtype=np.uint16)
    whole = deblur_tiled(run, img)
    tiled = deblur_tiled(run, img, tile=90, overlap=40)  # starts 0, 48, 96... (not 47)
    assert _max_diff(whole, img) > 10_000
    assert _max_diff(tiled, whole) <= 2


def test_tile_overlap_must_leave_room():
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(500, 64, 32)


def test_ramp_weights():
    assert ramp(6, 2, False, False).tolist() == [1] * 6
    assert ramp(6, 2, True, True).tolist() == [0.25, 0.75, 1, 1, 0.75, 0.25]
    w = ramp(20, 8, True, False)  # outer quarter (2 px) ~0, then linear over 4 px
    np.testing.assert_allclose(w[:8], [1e-6, 1e-6, 0.125, 0.375, 0.625, 0.875, 1, 1])


def _local_net(seed=0):
    """Fully convolutional, receptive radius 6 px (three 5x5 convs), no image-wide statistics:
    where tiling is exact, so any difference is the tiling's own."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 8, 5, padding=2), nn.ReLU(),
        nn.Conv2d(8, 3, 5, padding=2), nn.Tanh(),
    ).eval()  # fmt: skip


def _max_diff(a, b, border=8):
    inner = (slice(border, -border), slice(border, -border))
    return int(np.abs(a.astype(int) - b.astype(int))[inner].max())


def test_tiled_equals_whole_frame_away_from_borders():
    run = torch_runner(_local_net())
    # 16-bit so that a difference far below one 8-bit level still shows.
    img = np.random.default_rng(0).integers(0, 65536, (150, 230, 3), dtype=np.uint16)
    whole = deblur_tiled(run, img)  # one pass
    tiled = deblur_tiled(run, img, tile=96, overlap=32)  # 2 x 3 tiles, radius 6 <= 32 // 4
    naive = deblur_tiled(run, img, tile=96, overlap=0)  # abutting tiles, no blending
    assert tiled.shape == img.shape and tiled.dtype == np.uint16
    assert _max_diff(whole, img) > 10_000  # the model does change the image
    assert _max_diff(tiled, whole) <= 2  # float rounding only (of 65535)
    assert _max_diff(naive, whole) > 1000  # seams: what blending over the overlap removes


def test_whole_frame_path_matches_deblur():
    from deblurflow.inference import deblur

    g = ResNetGenerator(4, 1, global_residual=False)
    img = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    np.testing.assert_array_equal(deblur_tiled(torch_runner(g), img), deblur(g, img))


def test_sixteen_bit_keeps_its_precision():
    g = ResNetGenerator(4, 1, global_residual=True)  # untrained: the identity
    img = np.random.default_rng(2).integers(0, 65536, (40, 50, 3), dtype=np.uint16)
    out = deblur_tiled(torch_runner(g), img, tile=32, overlap=8)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, img)  # not quantised to 8 bits on the way


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, resource, threading
    import numpy as np, torch
    from deblurflow.models import ResNetGenerator
    from deblurflow.tiling import deblur_tiled, torch_runner
    torch.set_num_threads(1)
    def rss_mb():
        pages = int(open("/proc/self/statm").read().split()[1])
        return pages * resource.getpagesize() / 2**20
    def growth_mb(fn):
        # Peak resident memory while fn runs, over the resident memory just before, sampled
        # every millisecond (ru_maxrss would also hold earlier peaks, e.g. of the imports).
        start, peak, done = rss_mb(), [0.0], threading.Event()
        def poll():
            while not done.wait(0.001):
                peak[0] = max(peak[0], rss_mb())
        t = threading.Thread(target=poll)
        t.start()
        fn()
        done.set()
        t.join()
        return max(peak[0], rss_mb()) - start
    run = torch_runner(ResNetGenerator(4, 1, global_residual=True))
    img = np.full((1280, 1280, 3), 7, np.uint8)
    deblur_tiled(run, img[:256, :256])  # warm-up: allocator, oneDNN primitives
    tiled = growth_mb(lambda: deblur_tiled(run, img, tile=256, overlap=32))
    whole = growth_mb(lambda: deblur_tiled(run, img))
    print(json.dumps({"tiled": tiled, "whole": whole}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/statm")
def test_tiled_peak_memory_is_bounded_on_a_large_image():
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, check=True
    )
    mb = json.loads(out.stdout.strip().splitlines()[-1])
    # 1280x1280: the output (5 MB) + one row of tiles in float (~5 MB) + one tile's
    # activations; the whole frame holds full-resolution activations (~200 MB).
    assert mb["tiled"] < 48, mb
    assert mb["whole"] > 3 * max(mb["tiled"], 16), mb


# --- geometric self-ensemble ---------------------------------------------------------------


def test_self_ensemble_turns_each_output_back_before_averaging():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, 3, 6, 10)).astype(np.float32)

    def shift_right(t):  # not equivariant: every pixel takes its left neighbour's value
        return np.roll(t, 1, axis=3)

    # The 8 views shift right, left, down and up twice each: the mean of the 4 neighbours.
    expected = sum(np.roll(x, s, axis=a) for s in (1, -1) for a in (2, 3)) / 4
    np.testing.assert_allclose(self_ensemble(shift_right)(x), expected, atol=1e-6)

    def add_ramp(t):  # + 0..1 from the left edge to the right one of whatever it is given
        return t + np.linspace(0, 1, t.shape[3], dtype=np.float32)

    # ramps from each side, twice each: 0.5 everywhere
    np.testing.assert_allclose(self_ensemble(add_ramp)(x), x + 0.5, atol=1e-6)


def test_self_ensemble_of_an_equivariant_model_is_the_model():
    run = torch_runner(nn.Conv2d(3, 3, 1).eval())  # a 1x1 conv commutes with flips and turns
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 8, 12)).astype(np.float32)
    ens = self_ensemble(run)
    np.testing.assert_allclose(ens(x), run(x), atol=1e-5)
    assert ens.multiple == run.multiple  # tiles still start on the model's grid


def test_predict_self_ensemble_writes_the_ensembled_frame(tmp_path):
    from deblurflow.cli import main
    from deblurflow.images import read_rgb, write_png
    from deblurflow.models import build_generator, load_generator, save_generator
    from deblurflow.params import ModelParams

    params = ModelParams(channels=4, res_blocks=1, d_channels=4)
    torch.manual_seed(0)
    g = build_generator(params)
    with torch.no_grad():
        for p in g.parameters():
            p.normal_(0, 0.05)
    save_generator(tmp_path / "g.pt", g, params)
    image = np.random.default_rng(2).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", image)
    for flag, out in (([], "plain"), (["--self-ensemble"], "ens")):
        args = ["predict", str(tmp_path / "a.png"), "-o", str(tmp_path / out), "-m",
                str(tmp_path / "g.pt"), "--precision", "fp32", *flag]  # fmt: skip
        assert main(args) == 0
    run = torch_runner(load_generator(tmp_path / "g.pt")[0])
    want = {"plain": deblur_tiled(run, image), "ens": deblur_tiled(self_ensemble(run), image)}
    for out, frame in want.items():
        got = read_rgb(tmp_path / out / "a_deblurred.png").astype(int)
        assert np.abs(got - frame).max() <= 1, out
    assert np.abs(want["plain"].astype(int) - want["ens"]).mean() > 0.5  # it did something
