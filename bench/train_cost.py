"""What the demo's training costs per generator width and batch, here and on an AVX2-only CPU.

The pipeline's own GAN step (``training.step.gan_step``: D step + G step, forward and backward,
fused AdamW, the recipe of ``--params``) on batches of random crops of a prepared folder, for
each ``--widths`` value of the ``halfres`` generator and each ``--batches`` size (default: the
params' ``train.batch_size``), in interleaved rounds in one process: steps and crops per second
(best round) and each run's ratio of steps per second to the first.

``--isa avx2`` runs the measurement in a child process whose torch is held to AVX2 kernels
(``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``), so ``precision: auto`` picks fp32
as on a CPU without native bf16 (AMD EPYC with AVX2 only): the cost of ``make repro`` there,
measured on a newer CPU. It emulates the instruction set, not the chip: clocks and caches stay
this CPU's.

    .venv/bin/python bench/train_cost.py --widths 64 48
    .venv/bin/python bench/train_cost.py --widths 64 48 --isa avx2
    .venv/bin/python bench/train_cost.py --widths 40 --batches 8 16 --isa avx2
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import common

ISA_ENV = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def measure(args: argparse.Namespace) -> None:
    import torch

    from deblurflow.params import load_params
    from deblurflow.prepared import load_split
    from deblurflow.runtime import pick_runtime
    from deblurflow.training.pairs import PairStore

    params = load_params(args.params)
    runtime = pick_runtime("cpu", "auto")
    store = PairStore(*load_split(args.data, "train"), runtime)
    tp = params.train
    batches = args.batches or [tp.batch_size]
    runs = {}
    for width in args.widths:
        p = dataclasses.replace(params, model=dataclasses.replace(params.model, channels=width))
        for batch in batches:
            torch.manual_seed(args.seed)
            runs[width, batch] = (
                common.gan_nets(p, runtime),
                torch.Generator().manual_seed(args.seed),
            )
    best = dict.fromkeys(runs, 0.0)
    for _ in range(args.rounds):
        for (width, batch), ((nets, losses), rng) in runs.items():
            for _ in range(args.warmup):
                common.gan_step(nets, losses, store, rng, runtime, batch, tp.crop)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                common.gan_step(nets, losses, store, rng, runtime, batch, tp.crop)
            best[width, batch] = max(best[width, batch], args.steps / (time.perf_counter() - t0))
    print(f"CPU {common.cpu_name()}; torch {torch.__version__}; kernels "
          f"{torch.backends.cpu.get_cpu_capability()}; {runtime.describe()}; crops of "
          f"{tp.crop}; best of {args.rounds} rounds of {args.steps} steps")  # fmt: skip
    print(
        "| halfres width | batch | steps/s | crops/s | x first | epochs in the time of "
        f"{tp.epochs} at the first |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    first = next(iter(best.values()))
    for (width, batch), rate in best.items():
        print(f"| {width} | {batch} | {rate:.2f} | {rate * batch:.1f} | {rate / first:.2f} | "
              f"{tp.epochs * rate / first:.1f} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 48])
    ap.add_argument("--batches", type=int, nargs="+", help="default: the params' batch_size")
    ap.add_argument("--isa", choices=sorted(ISA_ENV), help="hold torch to this instruction set")
    ap.add_argument("--params", type=Path, default=common.REPO / "params.yaml")
    ap.add_argument("--data", type=Path, default=common.REPO / "data/prepared")
    ap.add_argument("--steps", type=int, default=60, help="timed steps per width and round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    isa_env = ISA_ENV.get(args.isa, {})
    if any(os.environ.get(k) != v for k, v in isa_env.items()):  # torch reads them at import
        env = {**os.environ, **isa_env}
        sys.exit(subprocess.run([sys.executable, __file__, *sys.argv[1:]], env=env).returncode)
    measure(args)


if __name__ == "__main__":
    main()
