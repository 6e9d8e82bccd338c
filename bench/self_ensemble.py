"""``predict --self-ensemble`` against plain predict: PSNR on real pairs and the test split, and
ms per frame, side by side in one run.

The model (default: the shipped ``models/pretrained/deblurflow.pt``) deblurs every real pair
(``evaluate.real_pairs`` of params.yaml, at ``evaluate.real_size`` px wide as the evaluate stage
scores them) and the sample's test split, once plainly and once averaged over the 8 flips and
quarter turns (``deblurflow.tiling.self_ensemble``), through the same runner ``predict`` uses,
whole frames, at each ``--precision``. Per set: PSNR of the blurred input, of each output and
the gains; then ms per frame of each and their ratio (median of ``--reps`` runs on the first
real pair).

    .venv/bin/python bench/self_ensemble.py
    .venv/bin/python bench/self_ensemble.py --model models/best.pt --precision fp32
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import common
import numpy as np
import yaml

from deblurflow.evaluation import load_real_pairs, load_test_split
from deblurflow.metrics import psnr
from deblurflow.models import load_generator
from deblurflow.runtime import pick_runtime
from deblurflow.tiling import deblur_tiled, self_ensemble, torch_runner


def mean_psnr(run, split) -> float:
    return float(np.mean([psnr(s, deblur_tiled(run, b)) for b, s in zip(split.blur, split.sharp)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=common.REPO / "models/pretrained/deblurflow.pt")
    ap.add_argument("--params", type=Path, default=common.REPO / "params.yaml")
    ap.add_argument("--data", type=Path, default=common.REPO / "data/prepared")
    ap.add_argument("--precision", action="append", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    ev = yaml.safe_load(args.params.read_text())["evaluate"]
    sets = {
        f"real pairs ({len(ev['real_pairs'])} folder)": load_real_pairs(
            common.REPO / ev["real_pairs"][0], ev["real_size"]
        ),
        "test split": load_test_split(args.data),
    }
    generator, _ = load_generator(args.model)
    print(f"model {args.model.name}; CPU {common.cpu_name()}")
    for precision in args.precision or ["fp32", "auto"]:
        rt = pick_runtime("cpu", precision)
        plain = torch_runner(generator, rt.device, rt.amp_dtype, rt.channels_last)
        ens = self_ensemble(plain)
        print(f"\n{precision} ({rt.amp_dtype or 'fp32'}):")
        print("| set | frames | input PSNR | plain | self-ensemble | gain plain | gain ensemble |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, split in sets.items():
            base = float(np.mean([psnr(s, b) for b, s in zip(split.blur, split.sharp)]))
            p, e = mean_psnr(plain, split), mean_psnr(ens, split)
            print(f"| {name} | {len(split.blur)} | {base:.2f} | {p:.2f} | {e:.2f} | "
                  f"**{p - base:+.2f}** | **{e - base:+.2f}** |")  # fmt: skip
        frame = next(iter(sets.values())).blur[0]
        times = {}
        for label, run in (("plain", plain), ("self-ensemble", ens)):
            deblur_tiled(run, frame)  # warm-up
            reps = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                deblur_tiled(run, frame)
                reps.append(time.perf_counter() - t0)
            times[label] = statistics.median(reps) * 1000
        h, w = frame.shape[:2]
        plain_ms, ens_ms = times["plain"], times["self-ensemble"]
        print(f"ms per {w}x{h} frame: plain {plain_ms:.0f}, self-ensemble {ens_ms:.0f} "
              f"(x{ens_ms / plain_ms:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
