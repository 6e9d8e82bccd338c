"""Generators at equal CPU time: which architecture learns most deblurring per CPU minute?

Each candidate trains for the same wall-clock ``--seconds`` on the same prepared folder, one
after the other in this process (same machine, same data, same random crops stream): pixel
loss only (Charbonnier), AdamW 2e-3 (0.9, 0.9), 100 warm-up steps then cosine to 1% over the
time budget, batches of 8 random 64x64 crops with flips, bf16 autocast + channels_last where
the runtime picks them. Then the validation split, the test split and the real pairs are scored
like the evaluate stage (PSNR gain over the blurred input). The GAN term and the pipeline's
validation are left out: this compares the generators' learning per CPU second, nothing else.

Candidates: the package's ``nafnet`` (width 16, the previous default) and ``halfres``, and two
architectures defined here only for the comparison (a plain conv stack at half resolution and a
residual U-Net at half resolution).

    .venv/bin/python bench/generators.py halfres64x4 nafnet16 --data data/prepared --seconds 120 600

(candidates before ``--seconds``: several seconds values draw a learning curve, each from scratch)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import common
import torch
import torch.nn.functional as F
from torch import nn

from deblurflow.evaluation import evaluate, evaluate_real, load_test_split
from deblurflow.models import HalfResGenerator, NAFNetGenerator
from deblurflow.models.halfres import ResidualBlock
from deblurflow.prepared import load_split
from deblurflow.runtime import pick_runtime
from deblurflow.training.pairs import PairStore


class PlainHalf(nn.Module):
    """Pixel-unshuffle x2, ``depth`` 3x3 conv + ReLU at ``width``, conv back, shuffle, + input."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(12, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Conv2d(width, 12, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.net(F.pixel_unshuffle(x, 2)), 2) + x


class ResUNetHalf(nn.Module):
    """Pixel-unshuffle x2, then a 3-level U-Net of residual blocks (width, 2x, 4x), + input."""

    def __init__(self, width: int) -> None:
        super().__init__()
        c = width
        self.head = nn.Conv2d(12, c, 3, padding=1)
        self.enc1, self.down1 = ResidualBlock(c), nn.Conv2d(c, 2 * c, 2, stride=2)
        self.enc2, self.down2 = ResidualBlock(2 * c), nn.Conv2d(2 * c, 4 * c, 2, stride=2)
        self.middle = ResidualBlock(4 * c)
        self.up2, self.dec2 = (
            nn.Sequential(nn.Conv2d(4 * c, 8 * c, 1), nn.PixelShuffle(2)),
            (ResidualBlock(2 * c)),
        )
        self.up1, self.dec1 = (
            nn.Sequential(nn.Conv2d(2 * c, 4 * c, 1), nn.PixelShuffle(2)),
            (ResidualBlock(c)),
        )
        self.tail = nn.Conv2d(c, 12, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % 8, 0, -h % 8), mode="replicate")  # two levels below half size
        a = self.enc1(self.head(F.pixel_unshuffle(x, 2)))
        b = self.enc2(self.down1(a))
        m = self.middle(self.down2(b))
        b = self.dec2(self.up2(m) + b)
        a = self.dec1(self.up1(b) + a)
        return (F.pixel_shuffle(self.tail(a), 2) + x)[..., :h, :w]


CANDIDATES = {
    "nafnet16": lambda: NAFNetGenerator(16, (1, 1, 1), 1),
    "halfres64x4": lambda: HalfResGenerator(64, 4),
    "halfres64x8": lambda: HalfResGenerator(64, 8),
    "halfres128x8": lambda: HalfResGenerator(128, 8),
    "plain-half64x8": lambda: PlainHalf(64, 8),
    "resunet-half32": lambda: ResUNetHalf(32),
}


def train_for(
    generator: nn.Module,
    store: PairStore,
    seconds: float,
    runtime,
    seed: int,
    rotate90: bool = False,
    jitter: float = 0.0,
) -> int:
    """Train ``generator`` for ``seconds`` of wall time; returns the steps taken.

    ``rotate90`` and ``jitter`` are the pipeline's augmentations (train.rotate90,
    train.color_jitter) on top of the flips."""
    lr, warmup, batch = 2e-3, 100, 8
    opt = torch.optim.AdamW(generator.parameters(), lr, betas=(0.9, 0.9))
    rng = torch.Generator().manual_seed(seed)
    generator.train()
    steps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        share = elapsed / seconds  # cosine over the time budget, after a linear warm-up
        scale = min(1.0, (steps + 1) / warmup) * (
            0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * share))
        )
        for group in opt.param_groups:
            group["lr"] = lr * scale
        common.pixel_step(generator, opt, store, rng, runtime, batch, 64, rotate90, jitter)
        steps += 1
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=common.REPO / "data" / "prepared")
    ap.add_argument(
        "--seconds",
        type=float,
        nargs="+",
        default=[120],
        help="training wall time per candidate; several values: a learning curve, "
        "each from scratch",
    )
    ap.add_argument("--real", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--real-size", type=int, default=640)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rotate90", action="store_true", help="random 90-degree rotations too")
    ap.add_argument("--jitter", type=float, default=0.0, help="colour jitter strength")
    ap.add_argument("candidates", nargs="*", default=list(CANDIDATES), help="names to compare")
    args = ap.parse_args()
    runtime = pick_runtime()
    print(f"device: {common.describe_device(runtime.device)} ({runtime.describe()}); "
          f"data {args.data}; {'/'.join(f'{s:g}' for s in args.seconds)} s of training "
          "per candidate")  # fmt: skip
    if args.rotate90 or args.jitter:
        print(f"augmentation: flips, rotate90={args.rotate90}, colour jitter {args.jitter:g}")
    store = PairStore(*load_split(args.data, "train"), runtime)
    splits = {"val": load_test_split(args.data, "val"), "test": load_test_split(args.data)}
    print(f"{'candidate':16} {'params':>8} {'seconds':>7} {'steps':>6} {'crops/s':>8}  gain dB: "
          f"{'val':>6} {'test':>6} {'real':>6}")  # fmt: skip
    for name in args.candidates:
        for seconds in args.seconds:
            torch.manual_seed(args.seed)
            generator = runtime.place(CANDIDATES[name]())
            steps = train_for(
                generator, store, seconds, runtime, args.seed, args.rotate90, args.jitter
            )
            gains = {}
            for key, split in splits.items():
                summary, _ = evaluate(generator, split, runtime, samples=0)
                gains[key] = summary["gain_psnr"]
            real = {}
            if args.real.is_dir():
                real, _ = evaluate_real(generator, [args.real], args.real_size, runtime)
            params = sum(p.numel() for p in generator.parameters())
            print(
                f"{name:16} {params / 1e6:7.2f}M {seconds:7.0f} {steps:6d} "
                f"{steps * 8 / seconds:8.1f}           {gains['val']:+6.2f} {gains['test']:+6.2f} "
                f"{real.get('real_gain_psnr', float('nan')):+6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
