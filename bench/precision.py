"""fp32 vs bf16 (and NCHW vs channels_last) for training and inference on this CPU, side by side.

Speed: the package's own ``gan_step`` (D step + G step) on random crops and the generator's
whole-frame inference, each configuration timed in interleaved rounds (best of the rounds),
printed with its ratio to fp32 NCHW. Quality (``--quality-steps N``): the same N training steps
from the same initial weights on the same crops of a prepared folder in fp32 and in bf16, then
the validation PSNR of both (the policy asks for bf16 within 0.1 dB of fp32 at equal steps).

    .venv/bin/python bench/precision.py                                # the params.yaml model
    .venv/bin/python bench/precision.py --generator resnet --channels 16 --quality-steps 300
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import common  # noqa: F401 - puts src/ on the path
import torch

from deblurflow.losses import build_losses
from deblurflow.models import build_generator
from deblurflow.params import load_params
from deblurflow.prepared import load_split
from deblurflow.runtime import Runtime, cpu_has_bf16
from deblurflow.training.loop import build_models
from deblurflow.training.pairs import PairStore, epoch_batches
from deblurflow.training.step import GanPair, gan_step
from deblurflow.training.validation import validate

CONFIGS = {  # name -> (bf16, channels_last)
    "fp32": (False, False),
    "fp32 channels_last": (False, True),
    "bf16": (True, False),
    "bf16 channels_last": (True, True),
}


def runtime_for(bf16: bool, channels_last: bool) -> Runtime:
    return Runtime(torch.device("cpu"), torch.bfloat16 if bf16 else None, channels_last)


def models(params, rt: Runtime, seed: int = 0):
    """G, D and their optimizers exactly as the training loop builds them."""
    torch.manual_seed(seed)
    m = build_models(params, rt)
    return m.gen, m.disc, m.opt_g, m.opt_d


def train_rate(params, rt: Runtime, batch: int, crop: int, steps: int) -> float:
    """Crops per second of ``steps`` gan_steps after 2 untimed ones."""
    nets, losses = GanPair(*models(params, rt)), build_losses(params, rt)
    x = torch.rand(batch, 3, crop, crop) * 2 - 1
    y = torch.rand(batch, 3, crop, crop) * 2 - 1
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        gan_step(nets, x, y, losses, rt)
    return steps * batch / (time.perf_counter() - t0)


@torch.inference_mode()
def infer_ms(params, rt: Runtime, width: int, height: int, reps: int) -> float:
    gen = build_generator(params.model).eval()
    x = torch.rand(1, 3, height, width) * 2 - 1
    if rt.channels_last:
        gen = gen.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with rt.autocast():
        gen(x)
        t0 = time.perf_counter()
        for _ in range(reps):
            gen(x)
    return (time.perf_counter() - t0) / reps * 1000


def quality(params, data: Path, steps: int, batch: int, crop: int) -> dict[str, float]:
    """Val PSNR after ``steps`` equal steps in fp32 and in bf16 (same init, same crops)."""
    out = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        rt = runtime_for(bf16, False)
        train = PairStore(*load_split(data, "train"), rt)
        val = PairStore(*load_split(data, "val"), rt)
        nets, losses = GanPair(*models(params, rt)), build_losses(params, rt)
        order = torch.Generator().manual_seed(0)
        crops = torch.Generator().manual_seed(0)
        for index in epoch_batches(len(train), steps, batch, order):
            blur, sharp = train.crops(index, (crop, crop), crops)
            gan_step(nets, blur, sharp, losses, rt)
        # Validation in fp32 for both: the difference is what training in bf16 did.
        out[name] = validate(nets.G, val, runtime_for(False, False))["val_psnr"]
        out["input"] = validate(None, val, runtime_for(False, False))["val_psnr"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--params", default=str(common.REPO / "params.yaml"))
    ap.add_argument("--generator", help="override model.generator")
    ap.add_argument("--channels", type=int, help="override model.channels")
    ap.add_argument("--batch", type=int, help="default: train.batch_size")
    ap.add_argument("--crop", type=int, help="default: train.crop")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frame", default="640x360", help="inference frame size")
    ap.add_argument("--quality-steps", type=int, default=0)
    ap.add_argument("--data", type=Path, default=common.REPO / "data" / "prepared")
    args = ap.parse_args()

    params = load_params(args.params)
    overrides = {k: v for k, v in (("generator", args.generator), ("channels", args.channels)) if v}
    params = dataclasses.replace(params, model=dataclasses.replace(params.model, **overrides))
    batch, crop = args.batch or params.train.batch_size, args.crop or params.train.crop or 64
    width, height = common.parse_size(args.frame)
    print(f"device: {common.describe_device(torch.device('cpu'))}; native bf16: {cpu_has_bf16()}")
    print(
        f"model: {params.model.generator} width {params.model.channels}, D width "
        f"{params.model.d_channels}; train batch {batch} of {crop}x{crop}; infer {args.frame}"
    )

    train_best = {name: 0.0 for name in CONFIGS}
    infer_best = {name: float("inf") for name in CONFIGS}
    for _ in range(args.rounds):  # interleaved: drifts of a shared machine hit every config
        for name, (bf16, cl) in CONFIGS.items():
            rt = runtime_for(bf16, cl)
            rate = train_rate(params, rt, batch, crop, args.steps)
            train_best[name] = max(train_best[name], rate)
            infer_best[name] = min(infer_best[name], infer_ms(params, rt, width, height, 2))
    base_t, base_i = train_best["fp32"], infer_best["fp32"]
    print(f"{'config':20} {'train crops/s':>14} {'x fp32':>7} {'infer ms':>9} {'x fp32':>7}")
    for name in CONFIGS:
        print(
            f"{name:20} {train_best[name]:14.1f} {train_best[name] / base_t:7.2f} "
            f"{infer_best[name]:9.1f} {base_i / infer_best[name]:7.2f}"
        )
    if args.quality_steps:
        q = quality(params, args.data, args.quality_steps, batch, crop)
        print(
            f"val PSNR after {args.quality_steps} equal steps: fp32 {q['fp32']:.2f} dB, "
            f"bf16 {q['bf16']:.2f} dB (bf16 - fp32 {q['bf16'] - q['fp32']:+.2f}); "
            f"input {q['input']:.2f} dB"
        )


if __name__ == "__main__":
    main()
