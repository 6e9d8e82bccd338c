"""The real GoPro pairs deblurred at other sizes: what ``predict --max-side`` is for.

    .venv/bin/python bench/real_scale.py --model models/pretrained/deblurflow.pt models/best.pt \\
        --sizes 1280 960 640 480 320

Each pair is resized like evaluate's real pairs (INTER_AREA to the long side; 1280 is the
frames' own size), deblurred whole-frame in fp32 and scored against its sharp frame resized the
same way: the blurred input's PSNR, the model's and the gain, for both pairs together and each.
The blur shrinks with the frame (Istanbul's shake is about 22 px at 1280, 11 at 640), so the
gain says at what size a model's band of blur lengths meets a photo's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common

from deblurflow.evaluation import evaluate_real
from deblurflow.models import load_generator
from deblurflow.runtime import pick_runtime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, nargs="+", default=[common.REPO / "models" / "best.pt"])
    ap.add_argument("--pairs", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1280, 960, 640, 480, 320])
    args = ap.parse_args()
    runtime = pick_runtime("cpu", "fp32")
    print(f"CPU {common.cpu_name()}; fp32, whole frames; PSNR dB, blurred input -> model (gain)")
    print("| model | long side | both pairs | each pair |")
    print("|---|---:|---|---|")
    for path in args.model:
        generator, _ = load_generator(path)
        generator = runtime.place(generator).eval()
        for size in args.sizes:
            s, rows = evaluate_real(generator, [args.pairs], size, runtime)
            gain = s["real_psnr"] - s["real_input_psnr"]
            each = ", ".join(f"{r['frame']} {r['psnr'] - r['input_psnr']:+.2f}" for r in rows)
            print(
                f"| {path.name} | {size} | {s['real_input_psnr']:.2f} -> {s['real_psnr']:.2f} "
                f"(**{gain:+.2f}**) | {each} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
