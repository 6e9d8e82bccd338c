"""Reading and writing images with errors that name the file: 8-bit RGB for the pipeline,
any gray/RGB(A), 8/16-bit photo for ``predict``."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class Photo:
    """A user's photo for ``predict``: the colour the model sees plus what to restore after.

    ``rgb`` is (H, W, 3) uint8 or uint16 (16-bit files keep their depth end to end);
    ``alpha`` is the alpha channel (H, W) of an RGBA/gray+alpha file, passed through unchanged;
    ``gray`` marks a one-channel file (the model sees it replicated to RGB and the output is
    written back as one channel, the mean of the three).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    gray: bool = False


def read_photo(path: str | Path) -> Photo:
    """Read a gray, gray+alpha, RGB or RGBA photo, 8 or 16 bits per channel."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageError(f"{path}: cannot decode image (corrupt, truncated or not an image)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: unsupported pixel type {img.dtype} (8- or 16-bit only)")
    if img.ndim == 2:
        return Photo(np.repeat(img[:, :, None], 3, axis=2), gray=True)
    channels = img.shape[2]
    if channels == 2:  # gray + alpha
        return Photo(np.repeat(img[:, :, :1], 3, axis=2), alpha=img[:, :, 1].copy(), gray=True)
    alpha = img[:, :, 3].copy() if channels == 4 else None
    return Photo(np.ascontiguousarray(img[:, :, 2::-1]), alpha=alpha)  # BGR(A) -> RGB


def write_photo(path: str | Path, photo: Photo, compression: int = 1) -> None:
    """Write ``photo`` as a PNG of its own kind: gray or colour, with alpha, 8 or 16 bits."""
    path = Path(path)
    rgb = photo.rgb
    if photo.gray:
        planes = [np.round(rgb.mean(axis=2, dtype=np.float32)).astype(rgb.dtype)]
    else:
        planes = [rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]]  # BGR for OpenCV
    if photo.alpha is not None:
        planes.append(photo.alpha.astype(rgb.dtype))
    img = planes[0] if len(planes) == 1 else np.dstack(planes)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ImageError(f"{path}: PNG encoding failed")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(path)
