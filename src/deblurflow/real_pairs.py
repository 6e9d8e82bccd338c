"""Folders of real blur/sharp photo pairs (GoPro test set, HIDE, RealBlur, your own) for evaluate.

Three layouts are recognised, checked in this order:

- GOPRO_Large: ``ROOT/SEQ/blur/NAME`` + ``ROOT/SEQ/sharp/NAME`` (also ``blur_gamma/``);
- flat folders: ``ROOT/blur/NAME`` + ``ROOT/sharp/NAME``;
- flat files: ``ROOT/NAME_blur.EXT`` + ``ROOT/NAME_sharp.EXT`` (e.g. DeepDeblur's samples).

Pairs are resized like the prepared data (INTER_AREA, aspect kept, ``size`` = long side), so a
model is scored on real blur at the scale it was trained for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deblurflow.images import ImageError
from deblurflow.resize import load_resized

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
BLUR_FOLDERS = ("blur", "blur_gamma")


class RealPairsError(ValueError):
    """A real-pairs folder is missing, empty or has a blurred image with no sharp partner."""


@dataclass(frozen=True)
class RealPair:
    name: str  #: e.g. ``GOPR0384_11_00/000001.png`` or ``Istanbul``
    blur: Path
    sharp: Path


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def _folder_pairs(root: Path, prefix: str) -> list[RealPair] | None:
    """``root/blur|blur_gamma/NAME`` with ``root/sharp/NAME``; None when root has no such pair."""
    sharp_dir = root / "sharp"
    blur_dir = next((root / b for b in BLUR_FOLDERS if (root / b).is_dir()), None)
    if blur_dir is None or not sharp_dir.is_dir():
        return None
    pairs = []
    for blur in _images(blur_dir):
        sharp = sharp_dir / blur.name
        if not sharp.is_file():
            raise RealPairsError(f"{blur}: no sharp partner {sharp}")
        pairs.append(RealPair(prefix + blur.name, blur, sharp))
    return pairs


def find_pairs(root: str | Path) -> list[RealPair]:
    """Every blur/sharp pair under ``root``, in a stable order; one clear error if none."""
    root = Path(root)
    if not root.is_dir():
        raise RealPairsError(f"{root}: real-pairs folder does not exist")
    flat = _folder_pairs(root, "")
    if flat is not None:
        pairs = flat
    else:
        pairs = []
        for seq in sorted(p for p in root.iterdir() if p.is_dir()):
            pairs += _folder_pairs(seq, f"{seq.name}/") or []
        if not pairs:
            for blur in _images(root):
                stem = blur.stem
                if not stem.endswith("_blur"):
                    continue
                name = stem.removesuffix("_blur")
                sharp = next(
                    (p for p in _images(root) if p.stem == f"{name}_sharp"),
                    None,
                )
                if sharp is None:
                    raise RealPairsError(f"{blur}: no sharp partner {name}_sharp.*")
                pairs.append(RealPair(name, blur, sharp))
    if not pairs:
        raise RealPairsError(
            f"{root}: no blur/sharp pairs found (expected SEQ/blur + SEQ/sharp, blur/ + sharp/, "
            "or NAME_blur.* + NAME_sharp.*)"
        )
    return pairs


def load_pair(pair: RealPair, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(blur, sharp) uint8 RGB (H, W, 3), resized to long side ``size`` (None = as stored)."""
    blur = load_resized(pair.blur, size)
    sharp = load_resized(pair.sharp, size)
    if blur.shape != sharp.shape:
        raise ImageError(
            f"{pair.blur}: blurred {blur.shape[1]}x{blur.shape[0]} and sharp "
            f"{sharp.shape[1]}x{sharp.shape[0]} differ in size"
        )
    return blur, sharp
