"""Reading and writing 8-bit RGB images with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageError(ValueError):
    """An image file is missing, unreadable or not what was expected."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3): gray replicated, alpha dropped, 16-bit scaled."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageError(f"{path}: cannot decode image (corrupt, truncated or not an image)")
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageError(f"{path}: unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img[:, :, ::-1])


def write_png(path: str | Path, rgb: np.ndarray, compression: int = 1) -> None:
    """Write uint8 RGB (H, W, 3) as PNG (fast compression by default)."""
    path = Path(path)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"write_png expects uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    ok, buf = cv2.imencode(
        ".png", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, compression]
    )
    if not ok:
        raise ImageError(f"{path}: PNG encoding failed")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(path)
