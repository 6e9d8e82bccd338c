"""The README's before/after crop: blur | each model's output | sharp of a real GoPro pair, 2x.

    .venv/bin/python bench/real_crop.py --model models/best.pt models/pretrained/deblurflow.pt \\
        --out docs/real_istanbul_crop.png

The pair is resized like evaluate's real pairs (long side 640), deblurred whole-frame on the
runtime evaluate would pick, and a 200x150 region (default: the pedestrians of Istanbul) is cut
from all three and enlarged with nearest-neighbour so no smoothing is added. Prints the PSNR of
the whole frame, deblurred and blurred.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common
import numpy as np

from deblurflow.images import write_png
from deblurflow.inference import deblur
from deblurflow.metrics import psnr
from deblurflow.models import load_generator
from deblurflow.real_pairs import find_pairs, load_pair
from deblurflow.runtime import pick_runtime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, nargs="+", default=[common.REPO / "models" / "best.pt"])
    ap.add_argument("--pairs", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--pair", default="Istanbul")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--box", type=int, nargs=4, default=[300, 100, 200, 150], help="x y w h")
    ap.add_argument("--out", type=Path, default=common.REPO / "docs" / "real_istanbul_crop.png")
    args = ap.parse_args()
    pair = next(p for p in find_pairs(args.pairs) if p.name == args.pair)
    blur, sharp = load_pair(pair, args.size)
    rt = pick_runtime()
    print(f"{args.pair} at {blur.shape[1]}x{blur.shape[0]}: blurred {psnr(sharp, blur):.2f} dB")
    outs = []
    for path in args.model:
        generator, _ = load_generator(path)
        outs.append(deblur(generator, blur, rt.device, rt.amp_dtype, rt.channels_last))
        print(f"  {path}: deblurred {psnr(sharp, outs[-1]):.2f} dB")
    x, y, w, h = args.box

    def enlarge(a: np.ndarray) -> np.ndarray:
        return a[y : y + h, x : x + w].repeat(2, axis=0).repeat(2, axis=1)

    gap = np.full((2 * h, 8, 3), 255, np.uint8)
    panels = [enlarge(blur)] + [enlarge(out) for out in outs] + [enlarge(sharp)]
    write_png(args.out, np.concatenate([p for panel in panels for p in (panel, gap)][:-1], 1))


if __name__ == "__main__":
    main()
