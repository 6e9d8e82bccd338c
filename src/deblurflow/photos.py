"""Users' photos for ``predict``: gray, gray+alpha, RGB or RGBA, 8 or 16 bits, read and
written back as they came (the pipeline's own 8-bit RGB I/O is images.py), turned upright as
their EXIF orientation says."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from deblurflow.images import ImageError
from deblurflow.resize import target_size


@dataclass
class Photo:
    """A user's photo for ``predict``: the colour the model sees plus what to restore after.

    ``rgb`` is (H, W, 3) uint8 or uint16 (16-bit files keep their depth end to end);
    ``alpha`` is the alpha channel (H, W) of an RGBA/gray+alpha file, passed through unchanged;
    ``gray`` marks a one-channel file (the model sees it replicated to RGB and the output is
    written back as one channel, the mean of the three); ``icc`` is the file's colour profile
    (a phone's Display P3, say), written into the output so that viewers show its colours as
    they showed the input's.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    gray: bool = False
    icc: bytes | None = None


#: EXIF Orientation (tag 0x0112) -> how to turn the stored rows and columns upright, as a
#: viewer shows them (2-4: mirrors and a half turn; 5-8: those across a diagonal).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a),
}


def exif_orientation(data: np.ndarray) -> int:
    """The EXIF Orientation of an encoded image (1, upright, when it has none or the tag is
    not one of the eight). OpenCV applies it only when it may drop alpha and 16 bits
    (``IMREAD_COLOR``), so it is read here and applied to the unchanged pixels."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # only the header is read:
    try:  # Pillow's decompression-bomb limit (179 MP) must not skip a 200 MP phone photo
        with Image.open(io.BytesIO(data.tobytes())) as img:
            value = img.getexif().get(0x0112, 1)
    except Exception:  # a format or a header Pillow does not read: OpenCV decides alone
        return 1
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return value if value in _UPRIGHT else 1


#: formats a photo may come in that OpenCV's wheels do not decode
NOT_READ = {"heic": "HEIC (an iPhone photo)", "heif": "HEIF"} | {
    raw: f"{raw.upper()} (a camera's raw file)"
    for raw in ("dng", "cr2", "cr3", "nef", "arw", "raf", "orf", "rw2")
}


def read_photo(path: str | Path) -> Photo:
    """Read a gray, gray+alpha, RGB or RGBA photo, 8 or 16 bits per channel, upright: a phone
    photo's EXIF orientation is applied to its pixels, as every viewer applies it, since the
    PNG written back carries no EXIF."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)
    img, icc = _decode(data) if data.size else (None, None)
    if img is None:
        kind = path.suffix.lower().lstrip(".")
        if kind in NOT_READ:
            raise ImageError(
                f"{path}: {NOT_READ[kind]} is not a format OpenCV reads: convert it to JPEG or"
                " PNG first (a phone or photo app exports either)"
            )
        raise ImageError(f"{path}: cannot decode image (corrupt, truncated or not an image)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: unsupported pixel type {img.dtype} (8- or 16-bit only)")
    turn = _UPRIGHT.get(exif_orientation(data))
    if turn is not None:
        img = np.ascontiguousarray(turn(img))
    if img.ndim == 2:
        return Photo(np.repeat(img[:, :, None], 3, axis=2), gray=True, icc=icc)
    channels = img.shape[2]
    if channels == 2:  # gray + alpha
        gray = np.repeat(img[:, :, :1], 3, axis=2)
        return Photo(gray, alpha=img[:, :, 1].copy(), gray=True, icc=icc)
    alpha = img[:, :, 3].copy() if channels == 4 else None
    return Photo(np.ascontiguousarray(img[:, :, 2::-1]), alpha=alpha, icc=icc)  # BGR(A) -> RGB


def _decode(data: np.ndarray) -> tuple[np.ndarray | None, bytes | None]:
    """The pixels as stored (alpha, 16 bits) and the ICC profile, where this OpenCV reads
    metadata (`imdecodeWithMetadata`: the current wheels); without it, no profile."""
    if not hasattr(cv2, "imdecodeWithMetadata"):
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED), None
    img, kinds, chunks = cv2.imdecodeWithMetadata(data, cv2.IMREAD_UNCHANGED)
    icc = [c for k, c in zip(kinds, chunks) if k == cv2.IMAGE_METADATA_ICCP]
    return img, (np.asarray(icc[0]).tobytes() if icc else None)


def shrink_photo(photo: Photo, max_side: int | None) -> Photo:
    """``photo`` with its long side at most ``max_side`` px, aspect kept (OpenCV's INTER_AREA,
    as evaluate resizes the real pairs; alpha alike); as it is when it is no larger."""
    height, width = photo.rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return photo
    size = target_size(width, height, max_side)

    def resize(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, size, interpolation=cv2.INTER_AREA)

    alpha = None if photo.alpha is None else resize(photo.alpha)
    return replace(photo, rgb=resize(photo.rgb), alpha=alpha)


def encode_photo(photo: Photo, compression: int = 1) -> bytes:
    """``photo`` as PNG bytes of its own kind: gray or colour, with alpha, 8 or 16 bits."""
    rgb = photo.rgb
    if photo.gray:
        planes = [np.round(rgb.mean(axis=2, dtype=np.float32)).astype(rgb.dtype)]
    else:
        planes = [rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]]  # BGR for OpenCV
    if photo.alpha is not None:
        planes.append(photo.alpha.astype(rgb.dtype))
    img = planes[0] if len(planes) == 1 else np.dstack(planes)
    flags = [cv2.IMWRITE_PNG_COMPRESSION, compression]
    if photo.icc and hasattr(cv2, "imencodeWithMetadata"):
        profile = [np.frombuffer(photo.icc, np.uint8)]
        ok, buf = cv2.imencodeWithMetadata(".png", img, [cv2.IMAGE_METADATA_ICCP], profile, flags)
    else:
        ok, buf = cv2.imencode(".png", img, flags)
    if not ok:
        raise ImageError("PNG encoding failed")
    return buf.tobytes()


def write_photo(path: str | Path, photo: Photo, compression: int = 1) -> None:
    """Write ``photo`` as a PNG of its own kind (not atomic: predict writes through atomic)."""
    path = Path(path)
    try:
        data = encode_photo(photo, compression)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
