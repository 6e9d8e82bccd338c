"""Resizing to a long side, aspect kept, INTER_AREA: what prepare does to the pairs and evaluate
to the real photo pairs (its own module, so each depends on it alone, not on the other)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deblurflow.images import read_rgb


def target_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) with the long side scaled to ``size``, aspect kept, rounded to nearest."""
    if size is None:
        return width, height
    long_side = max(width, height)
    # Integer round-half-up of side * size / long_side: no float error at exact halves.
    new_w = max(1, (2 * width * size + long_side) // (2 * long_side))
    new_h = max(1, (2 * height * size + long_side) // (2 * long_side))
    return new_w, new_h


def load_resized(path: Path, size: int | None) -> np.ndarray:
    """Read ``path`` as uint8 RGB (H, W, 3), INTER_AREA-resized so its long side is ``size``."""
    rgb = read_rgb(path)
    height, width = rgb.shape[:2]
    new_w, new_h = target_size(width, height, size)
    if (new_w, new_h) != (width, height):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return rgb
