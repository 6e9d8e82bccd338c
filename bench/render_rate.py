"""Rendering fresh training pairs against training's appetite: where the sample is rendered.

Training could draw every batch from freshly rendered scenes (a training data source that runs
the sample's renderer on the fly) instead of the pairs the data stages render once. This
measures both sides on this machine, in one run:

  (a) the data stages' rate: ``render_sample`` (``--sequences`` train sequences and one test
      sequence of the default params, PNGs written, photos loaded) and ``synthesize_tree``
      (the linear-light averages), in blur/sharp pairs per second on one core;
  (b) training's appetite: crops per second of the pipeline's GAN step (``gan_step`` with the
      default recipe's networks, losses, batch and crop) on the prepared pairs, all cores.

and prints how many cores rendering would need to give training one fresh pair every
``--crops-per-pair`` crops. A 2-core CPU that spends cores on rendering trains that much slower.

    .venv/bin/python bench/render_rate.py
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import common
import torch

from deblurflow.params import load_params
from deblurflow.prepared import load_split
from deblurflow.runtime import pick_runtime
from deblurflow.sources.sample import render_sample
from deblurflow.synthesize import synthesize_tree
from deblurflow.training.pairs import PairStore


def render_rate(params, sequences: int) -> tuple[float, int]:
    """(pairs per second on one core, pairs) of render_sample + synthesize_tree."""
    sample = dataclasses.replace(params.data.sample, train_sequences=sequences, test_sequences=1)
    blur = dataclasses.replace(params.blur, workers=1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        render_sample(sample, params.seed, Path(tmp) / "raw")
        synthesize_tree(Path(tmp) / "raw", Path(tmp) / "pairs", blur)
        seconds = time.perf_counter() - start
        pairs = len(list((Path(tmp) / "pairs").glob("*/*/blur/*.png")))  # train and test
    return pairs / seconds, pairs


def train_rate(params, data: Path, steps: int) -> float:
    """Crops per second of the pipeline's GAN step on ``data``'s training pairs."""
    runtime = pick_runtime()
    blur, sharp = load_split(data, "train")
    store = PairStore(blur, sharp, runtime)
    nets, losses = common.gan_nets(params, runtime)
    batch, crop = params.train.batch_size, params.train.crop
    rng = torch.Generator().manual_seed(0)

    def step() -> None:
        common.gan_step(nets, losses, store, rng, runtime, batch, crop)

    for _ in range(5):  # warm-up: oneDNN picks its kernels
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=common.REPO / "params.yaml")
    ap.add_argument("--data", type=Path, default=common.REPO / "data/prepared")
    ap.add_argument("--sequences", type=int, default=12, help="train sequences rendered for (a)")
    ap.add_argument("--steps", type=int, default=300, help="GAN steps timed for (b)")
    ap.add_argument("--crops-per-pair", type=int, default=8,
                    help="crops training may take from one fresh pair")  # fmt: skip
    args = ap.parse_args()
    params = load_params(args.params)
    pairs_per_s, pairs = render_rate(params, args.sequences)
    crops_per_s = train_rate(params, args.data, args.steps)
    cores = crops_per_s / args.crops_per_pair / pairs_per_s
    s = params.data.sample
    print(f"CPU {common.cpu_name()}; torch {torch.__version__}; {s.width}x{s.height} pairs")
    print(f"(a) render + synthesize: {pairs} pairs, {pairs_per_s:.1f} pairs/s on one core")
    print(f"(b) GAN training: {crops_per_s:.0f} crops/s ({params.train.batch_size} crops of "
          f"{params.train.crop}x{params.train.crop} per step)")  # fmt: skip
    print(f"one fresh pair every {args.crops_per_pair} crops needs {cores:.1f} cores of rendering "
          f"(ratio (b) / {args.crops_per_pair} / (a))")  # fmt: skip


if __name__ == "__main__":
    main()
