"""GoPro motion blur by frame averaging (Nah et al. 2017), as pure numpy functions.

A blurred frame is the mean of M consecutive sharp frames of a 240 fps video; its ground truth
is the middle frame. Averaging happens in linear light: 8-bit sRGB values are decoded with
``(v / 255) ** gamma``, averaged, and re-encoded with ``** (1 / gamma)``. ``gamma = 2.2`` is
GoPro's ``blur_gamma`` set; ``gamma = 1.0`` is the plain sRGB average of GoPro's ``blur`` set.

Images are uint8 RGB (H, W, 3) in [0, 255]; linear-light frames are float32 (H, W, 3) in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# GoPro sequence names carry M: GOPR0372_07_00 was averaged over 7 frames.
_GOPRO_NAME = re.compile(r"GOPR\d+_(\d+)_\d+")


def srgb_to_linear_lut(gamma: float) -> np.ndarray:
    """256-entry float32 table: entry v = (v / 255) ** gamma, in [0, 1]."""
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    return ((np.arange(256, dtype=np.float64) / 255.0) ** gamma).astype(np.float32)


def to_linear(frame: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (H, W, 3) in [0, 1] through ``lut`` (from srgb_to_linear_lut)."""
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {frame.dtype}")
    # cv2.LUT gives the same values as lut[frame] but is about 10x faster on a 720p frame.
    return cv2.LUT(np.ascontiguousarray(frame), lut)


def blur_from_linear(linear: Sequence[np.ndarray], gamma: float) -> np.ndarray:
    """Mean of float32 linear-light frames (each (H, W, 3) in [0, 1]) -> uint8 sRGB (H, W, 3).

    The sum runs in the given order in float32, so the same frames always give the same bytes
    (synthesize's sliding window and ``average_frames`` share this function). The result is
    ``floor(255 * mean ** (1 / gamma) + 0.5)``: rounded to nearest, halves up.
    """
    if len(linear) == 0:
        raise ValueError("cannot average zero frames")
    acc = np.array(linear[0], dtype=np.float32, copy=True)
    for frame in linear[1:]:
        if frame.shape != acc.shape:
            raise ValueError(f"frame shapes differ: {frame.shape} vs {acc.shape}")
        acc += frame
    acc *= np.float32(1.0 / len(linear))
    if gamma != 1.0:
        np.power(acc, np.float32(1.0 / gamma), out=acc)
    acc *= np.float32(255.0)
    acc += np.float32(0.5)
    # The mean of values in [0, 1] stays in [0, 1], so the cast cannot wrap; clip guards rounding.
    np.clip(acc, 0.0, 255.0, out=acc)
    return acc.astype(np.uint8)


def average_frames(frames: Sequence[np.ndarray], gamma: float) -> np.ndarray:
    """Blur of uint8 RGB frames (each (H, W, 3)): mean in linear light, re-encoded, uint8.

    ``gamma = 1.0`` is the plain sRGB average; 2.2 averages in linear light (GoPro blur_gamma).
    """
    lut = srgb_to_linear_lut(gamma)
    return blur_from_linear([to_linear(np.asarray(f), lut) for f in frames], gamma)


def frames_from_name(seq_name: str) -> int:
    """M from a GoPro sequence name: 'GOPR0372_07_00' -> 7, 'GOPR0871_11_00' -> 11."""
    match = _GOPRO_NAME.fullmatch(seq_name)
    if match is None:
        raise ValueError(
            f"blur.frames is 'auto' but sequence {seq_name!r} is not named like GoPro's "
            "'GOPR0372_07_00' (whose middle number is the frame count); "
            "set blur.frames to an odd number in params.yaml"
        )
    m = int(match.group(1))
    if m < 1 or m % 2 == 0:
        raise ValueError(
            f"sequence {seq_name!r} names {m} frames but the blur window must be odd "
            "(its middle frame is the ground truth); set blur.frames to an odd number"
        )
    return m


def frames_for_exposure(exposure_ms: float, fps: float) -> int:
    """M for an exposure: the odd frame count closest to exposure x fps (ties go up).

    ``frames_for_exposure(30, 240) == 7`` (7.2 frames), ``frames_for_exposure(30, 120) == 3``.
    Raises ValueError when that is a single frame: a "blur" of one frame is the sharp frame.
    """
    if exposure_ms <= 0 or fps <= 0:
        raise ValueError(f"exposure and fps must be > 0, got {exposure_ms} ms, {fps} fps")
    span = exposure_ms * fps / 1000.0  # frames the shutter stays open for
    m = 2 * math.floor((span - 1) / 2 + 0.5) + 1
    if m < 3:
        raise ValueError(
            f"an exposure of {exposure_ms:g} ms at {fps:.4g} fps spans {span:.2f} frames, "
            "fewer than the 3 needed for any blur; raise blur.exposure_ms"
        )
    return m


def windows(n_frames: int, m: int, stride: int) -> list[tuple[int, int]]:
    """(first, last) frame indices, both inclusive, of each M-frame window starting every stride.

    ``windows(7, 3, 3) == [(0, 2), (3, 5)]``; a trailing partial window is dropped.
    """
    if m < 1 or stride < 1:
        raise ValueError(f"window size and stride must be >= 1, got m={m}, stride={stride}")
    return [(first, first + m - 1) for first in range(0, n_frames - m + 1, stride)]


@dataclass(frozen=True)
class CameraEffects:
    """How a camera records the averaged light (Rim et al., RSBlur, ECCV 2022, section 3).

    saturation: highest exposure gain (linear light x U(1, saturation), then clipped at white);
    noise: highest read-noise std in linear light (shot noise grows with the signal);
    jpeg: lowest JPEG quality of the blurred frame (drawn in [jpeg, 95]), None = no JPEG.
    """

    saturation: float = 1.0
    noise: float = 0.0
    jpeg: int | None = None

    @property
    def active(self) -> bool:
        return self.saturation > 1.0 or self.noise > 0.0 or self.jpeg is not None


def _encode(linear: np.ndarray, gamma: float) -> np.ndarray:
    """float32 linear light in [0, 1] (clipped here) -> uint8 sRGB, rounded as blur_from_linear."""
    out = np.clip(linear, 0.0, 1.0)
    if gamma != 1.0:
        out = np.power(out, np.float32(1.0 / gamma))
    return np.floor(out * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)


def record(
    linear: Sequence[np.ndarray],
    mid: int,
    gamma: float,
    effects: CameraEffects,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(blurred, sharp) uint8 sRGB of linear-light frames seen through a camera with ``effects``.

    The sensor integrates the light of the whole window, then saturates: the exposure gain
    multiplies every frame and the clip at white comes after the average, so a highlight
    smears at full brightness. Noise (read + shot, variance read^2 (1 + 4 x)) is added to the
    blurred frame in linear light, before the tone curve; JPEG last. The sharp frame ``mid``
    gets the same gain and clip but no noise: it stays a clean ground truth.
    """
    gain = np.float32(rng.uniform(1.0, effects.saturation))
    read = rng.uniform(0.0, effects.noise)
    acc = np.array(linear[0], dtype=np.float32, copy=True)
    for frame in linear[1:]:
        acc += frame
    acc *= np.float32(gain / len(linear))
    np.clip(acc, 0.0, 1.0, out=acc)
    if read > 0:
        sigma = np.float32(read) * np.sqrt(1.0 + 4.0 * acc)
        acc += sigma * rng.standard_normal(acc.shape, dtype=np.float32)
    blurred = _encode(acc, gamma)
    if effects.jpeg is not None:
        quality = int(rng.integers(effects.jpeg, 96))
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(blurred, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise ValueError("JPEG encoding failed")
        blurred = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    sharp = _encode(np.asarray(linear[mid], dtype=np.float32) * gain, gamma)
    return blurred, sharp
