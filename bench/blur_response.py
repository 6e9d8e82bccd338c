"""What blur a model removes: its PSNR gain against the length of a known straight motion blur.

Sharp frames (the real GoPro pairs' sharp frames at ``--real-size`` px wide, and frames of the
sample's test split) are blurred by straight motion kernels of ``--lengths`` pixels at three
angles, averaged as the synthesize stage averages (``--gamma``: params.yaml's ``blur.gamma``;
1.0 = sRGB values as in GoPro's ``blur`` set, 2.2 = linear light), and deblurred by the model.
Per length: the blurred input's PSNR against the sharp frame, the model's, and the gain.
Length 1 is the sharp frame itself: how much the model changes what needs no deblurring. Real
content blurred in a known way separates what the model cannot do (a blur length it never
learned) from what real blur adds (non-uniform motion, moving objects, the camera's
processing): compare with the gain on the real pairs themselves.

    .venv/bin/python bench/blur_response.py                       # the shipped model
    .venv/bin/python bench/blur_response.py --model models/best.pt --lengths 3 9 15
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import common
import numpy as np

from deblurflow.evaluation import load_real_pairs, load_test_split
from deblurflow.metrics import psnr
from deblurflow.models import load_generator
from deblurflow.params import load_params
from deblurflow.runtime import pick_runtime
from deblurflow.tiling import deblur_tiled, torch_runner

ANGLES = (0.0, 60.0, 120.0)


def response(run, frames: list[np.ndarray], length: int, gamma: float) -> tuple[float, float]:
    """Mean (input PSNR, model PSNR) over frames x ANGLES; input PSNR of no blur is inf."""
    pairs = []
    for sharp in frames:
        for angle in ANGLES:
            kernel = common.line_kernel(length, math.radians(angle))
            blurred = common.convolve(sharp, kernel, gamma)
            pairs.append((psnr(sharp, blurred), psnr(sharp, deblur_tiled(run, blurred))))
    return tuple(float(np.mean(col)) for col in zip(*pairs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=common.REPO / "models/pretrained/deblurflow.pt")
    ap.add_argument("--real", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--real-size", type=int, default=640)
    ap.add_argument("--data", type=Path, default=common.REPO / "data/prepared")
    ap.add_argument("--test-frames", type=int, default=6, help="test-split frames, evenly spaced")
    ap.add_argument("--lengths", type=int, nargs="+", default=[1, 3, 5, 7, 9, 13, 17, 23])
    recipe = load_params(common.REPO / "params.yaml")
    ap.add_argument("--gamma", type=float, default=recipe.blur.gamma,
                    help="1.0: sRGB values, 2.2: linear light (default: params.yaml)")  # fmt: skip
    args = ap.parse_args()
    runtime = pick_runtime("cpu", "fp32")
    generator, _ = load_generator(args.model)
    run = torch_runner(generator, runtime.device)
    real = list(load_real_pairs(args.real, args.real_size).sharp)
    test = load_test_split(args.data).sharp
    step = max(1, len(test) // args.test_frames)
    sets = {
        f"real sharp frames at {args.real_size} px ({len(real)})": real,
        f"test split sharp frames ({len(test[::step][: args.test_frames])})": [
            np.asarray(f) for f in test[::step][: args.test_frames]
        ],
    }
    print(f"model {args.model.name} (fp32); CPU {common.cpu_name()}; angles {ANGLES} degrees; "
          f"blur averaged with gamma {args.gamma}")  # fmt: skip
    print("| blur length px | " + " | ".join(f"{n}: input -> model (gain)" for n in sets) + " |")
    print("|---:|" + "---|" * len(sets))
    for length in args.lengths:
        cells = []
        for frames in sets.values():
            base, out = response(run, frames, length, args.gamma)
            gain = "" if math.isinf(base) else f" (**{out - base:+.2f}**)"
            cells.append(f"{'sharp' if math.isinf(base) else f'{base:.2f}'} -> {out:.2f}{gain}")
        print(f"| {length} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
