"""How long is the blur? Per-patch linear-motion blur length of synthesized and real pairs.

For every textured 64x64 patch, the straight motion kernel (length 1-41 px, every 15 degrees)
that best turns the sharp frame into the blurred one (least squares, in linear light) gives
the patch's blur length. Printed as median and quartiles, side by side for the synthesized
pairs (``data/pairs`` at their own scale) and for real pairs resized like ``evaluate`` does, so
one can check that the training blur spans what real photos show at the scale they are scored.

    .venv/bin/python bench/blur_extent.py --pairs data/pairs --real data/real/gopro-real
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common
import cv2
import numpy as np

from deblurflow.images import read_rgb
from deblurflow.real_pairs import find_pairs, load_pair

LENGTHS = range(3, 42, 2)
ANGLES = np.deg2rad(np.arange(0, 180, 15))
PATCH = 64


KERNELS = [(1, None)] + [(n, common.line_kernel(n, a)) for n in LENGTHS for a in ANGLES]


def extents(sharp: np.ndarray, blur: np.ndarray) -> list[int]:
    """Best blur length per textured patch of one uint8 RGB pair."""

    def linear(rgb: np.ndarray) -> np.ndarray:
        return (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255) ** 2.2

    s, b = linear(sharp), linear(blur)
    errors = np.stack([
        ((s if k is None else cv2.filter2D(s, -1, k, borderType=cv2.BORDER_REFLECT)) - b) ** 2
        for _, k in KERNELS
    ])  # fmt: skip
    out = []
    for y in range(0, s.shape[0] - PATCH + 1, PATCH):
        for x in range(0, s.shape[1] - PATCH + 1, PATCH):
            if s[y : y + PATCH, x : x + PATCH].std() < 0.03:  # flat: any kernel fits
                continue
            e = errors[:, y : y + PATCH, x : x + PATCH].mean(axis=(1, 2))
            out.append(KERNELS[int(e.argmin())][0])
    return out


def describe(name: str, values: list[int]) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return (
        f"{name:40} {len(values):6d} patches  median {q50:4.0f} px  quartiles {q25:.0f}-{q75:.0f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pairs", type=Path, help="synthesized pairs: SPLIT/SEQ/{blur,sharp}/*.png")
    ap.add_argument("--every", type=int, default=4, help="use every Nth synthesized pair")
    ap.add_argument("--real", type=Path, nargs="*", default=[], help="real-pairs folders")
    ap.add_argument("--real-size", type=int, nargs="*", default=[640, 320])
    args = ap.parse_args()
    if args.pairs:
        values: list[int] = []
        for blur in sorted(args.pairs.glob("*/*/blur/*.png"))[:: args.every]:
            values += extents(read_rgb(blur.parent.parent / "sharp" / blur.name), read_rgb(blur))
        print(describe(f"synthesized {args.pairs}", values))
    for folder in args.real:
        for size in args.real_size:
            for pair in find_pairs(folder):
                blur, sharp = load_pair(pair, size)
                print(describe(f"real {pair.name} at {size} px", extents(sharp, blur)))


if __name__ == "__main__":
    main()
