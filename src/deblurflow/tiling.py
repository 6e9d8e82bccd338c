"""Tiled inference: deblur an image of any size in overlapping tiles with bounded memory.

The image is cut into evenly spaced tiles of at most ``tile`` x ``tile`` pixels that overlap
their neighbours by at least ``overlap`` pixels. Each tile's output is weighted by a ramp
across the overlap (about 0 at an inner tile edge, where the network saw padding instead of
the neighbouring pixels; 1 at the image border) and the weighted outputs are averaged. Tile
rows are finished one at a time, so besides the input and the output only one row of tiles
is held in float: peak memory grows with the image width, not with its area.

Tiles start on the generator's pixel grid (multiples of its down-sampling factor), so a fully
convolutional network whose receptive radius is at most ``overlap // 4``, such as the default
``halfres``, gives the whole-frame result up to float rounding (tests/test_tiling.py). NAFNet
and the ResNet also use image-wide statistics (NAFNet's channel attention averages over the
whole input, the ResNet's InstanceNorm normalises by it), so their tiles see slightly different
statistics than the whole frame: a small, smooth difference, measured by bench/predict.py.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from deblurflow.inference import pad_to_multiple
from deblurflow.models.generator import MIN_SIZE, MULTIPLE

#: float32 (1, 3, h, w) in [-1, 1] -> float32 (1, 3, h, w) in [-1, 1]: one tile through a model
Runner = Callable[[np.ndarray], np.ndarray]


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> tuple[list[int], int]:
    """Start offsets and the common size of tiles covering ``[0, length)``.

    The fewest tiles of about ``tile`` pixels whose neighbours overlap by at least
    ``overlap``, spread evenly (so 1280 px with tile 1024 is two 672 px tiles, not 1024 + 320
    with a 768 px overlap). Every start is a multiple of ``align``: a generator that
    down-samples (pixel-unshuffle, stride-2 convs) sees a tile on the same pixel grid as the
    whole frame only then; the tiles may grow by up to ``align - 1`` pixels for it.
    ``tile <= 0`` or ``length <= tile``: one tile, the whole length.
    """
    if tile <= 0 or length <= tile:
        return [0], length
    if not 0 <= 2 * overlap < tile:
        raise ValueError(f"tile overlap must be in [0, tile/2), got {overlap} for tile {tile}")
    # Rounding the starts down to the grid moves neighbours apart by up to align - 1 px: plan
    # with that much more overlap, so the overlap asked for survives the rounding.
    need = min(overlap + align - 1, (tile - 1) // 2)
    n = math.ceil((length - need) / (tile - need))
    size = math.ceil((length + (n - 1) * need) / n)
    starts = [math.floor(i * (length - size) / (n - 1)) // align * align for i in range(n)]
    return starts, length - starts[-1]


def ramp(size: int, overlap: int, ramp_start: bool, ramp_end: bool) -> np.ndarray:
    """1-D blending weights of one tile: ~0 then linear up to 1 across ``overlap`` px at its
    inner edges, 1 elsewhere (image borders included).

    The outer quarter of the overlap gets a weight of 1e-6: there the tile's network saw its
    padding instead of the neighbouring pixels, and the neighbour, which covers those pixels
    well inside itself, supplies the value. A network with a receptive radius up to
    ``overlap // 4`` thus gives the whole-frame result.
    """
    w = np.ones(size, np.float32)
    if overlap > 0:
        m = overlap // 4
        r = (np.arange(overlap, dtype=np.float32) - m + 0.5) / (overlap - 2 * m)
        r = np.clip(r, 1e-6, 1.0)
        if ramp_start:
            w[:overlap] = np.minimum(w[:overlap], r)
        if ramp_end:
            w[-overlap:] = np.minimum(w[-overlap:], r[::-1])
    return w


def deblur_tiled(run: Runner, image: np.ndarray, tile: int = 0, overlap: int = 0) -> np.ndarray:
    """Deblur an (H, W, 3) uint8 or uint16 image with ``run`` -> the same shape and dtype.

    ``tile = 0``: the whole frame in one pass. Tiles start on multiples of ``run.multiple``
    (set by torch_runner and onnx_runner) when the runner has it. Values are mapped to
    [-1, 1] by the full range of the dtype (255 or 65535), so a 16-bit photo keeps its
    precision end to end.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected (H, W, 3) uint8 or uint16, got {image.dtype} {image.shape}")
    half = np.iinfo(image.dtype).max / 2.0
    h, w = image.shape[:2]
    align = int(getattr(run, "multiple", 1))  # the runner's pixel grid (see tile_starts)
    ys, th = tile_starts(h, tile, overlap, align)
    xs, tw = tile_starts(w, tile, overlap, align)
    out = np.empty_like(image)
    carry_acc = carry_w = None  # rows of the previous tile row that the next one also covers
    for k, y in enumerate(ys):
        acc = np.zeros((th, w, 3), np.float32)
        wsum = np.zeros((th, w, 1), np.float32)
        if carry_acc is not None:
            acc[: len(carry_acc)] += carry_acc
            wsum[: len(carry_w)] += carry_w
        wy = ramp(th, overlap, y > 0, y + th < h)
        for x in xs:
            crop = image[y : y + th, x : x + tw]  # (th, tw, 3)
            t = (crop.astype(np.float32) / half - 1.0).transpose(2, 0, 1)[None]  # (1, 3, th, tw)
            pred = run(np.ascontiguousarray(t))[0].transpose(1, 2, 0)  # (th, tw, 3)
            wgt = wy[:, None, None] * ramp(tw, overlap, x > 0, x + tw < w)[None, :, None]
            acc[:, x : x + tw] += pred * wgt
            wsum[:, x : x + tw] += wgt
        done = (ys[k + 1] if k + 1 < len(ys) else h) - y  # rows no later tile touches
        blended = acc[:done] / wsum[:done]
        out[y : y + done] = np.clip(np.round((blended + 1.0) * half), 0, 2 * half)
        carry_acc, carry_w = acc[done:], wsum[done:]
    return out


def self_ensemble(run: Runner) -> Runner:
    """``run`` averaged over the 8 flips and quarter turns of each tile, each output turned
    back ("geometric self-ensemble", Lim et al., EDSR, CVPR 2017 workshops, section 4.2):
    8 passes (about 7x the time) for a steadier result (BENCHMARKS.md, self-ensemble on real
    photos)."""

    def ensemble(tile: np.ndarray) -> np.ndarray:
        acc = np.zeros(tile.shape, np.float32)
        for turns in range(4):
            for flip in (False, True):
                x = np.rot90(tile, turns, axes=(2, 3))
                x = x[..., ::-1] if flip else x
                y = run(np.ascontiguousarray(x))
                y = y[..., ::-1] if flip else y
                acc += np.rot90(y, -turns, axes=(2, 3))
        return acc / 8.0

    ensemble.multiple = getattr(run, "multiple", 1)  # type: ignore[attr-defined]
    return ensemble


def required_multiple(generator: nn.Module) -> int:
    """H and W the generator runs on without padding of its own (NAFNet: 2**levels)."""
    return math.lcm(MULTIPLE, int(getattr(generator, "multiple", 1)))


def forward(
    generator: nn.Module,
    x: torch.Tensor,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Float (1, 3, H, W) in [-1, 1] through ``generator`` -> float32 (1, 3, H, W).

    Pads (reflection) straight to the generator's own multiple, as the ONNX runner does, so
    torch and onnxruntime see the same pixels. The caller sets eval and inference mode.
    """
    x, h, w = pad_to_multiple(x, required_multiple(generator), MIN_SIZE)  # (1, 3, H', W')
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    amp = torch.autocast(x.device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
    with amp:
        return generator(x)[..., :h, :w].float()  # (1, 3, H, W)


def torch_runner(
    generator: nn.Module,
    device: str | torch.device = "cpu",
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> Runner:
    """A Runner over a torch generator (put in eval mode; run under inference_mode); its
    ``multiple`` attribute tells deblur_tiled where tiles may start."""
    generator.eval()

    def run(tile: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(tile).to(device)
            return forward(generator, x, amp_dtype, channels_last).cpu().numpy()

    run.multiple = required_multiple(generator)  # type: ignore[attr-defined]
    return run
