"""Inference on 1280x720 frames: a bare seed-generator forward vs the evaluate stage's path.

- bare: the seed generator (64 channels, 6 residual blocks) on a (1, 3, 720, 1280) tensor that
  is already on the device, eval mode, inference_mode; fp32, or bf16 autocast;
- evaluate: ``deblurflow.evaluation.evaluate`` on a synthetic test split of 1280x720 frames,
  batch 1, as the evaluate stage runs it (its runtime: ``pick_runtime(device, --eval-precision)``,
  default auto = the stage's default): uint8 -> device -> pad -> forward -> uint8, then
  PSNR/SSIM (scikit-image convention) of output and input, sample panels written to disk.
  Reported both as evaluate's own ms_per_image (the deblur call) and as wall time per frame
  including the metrics.

    python bench/evaluate.py                       # the default device
    python bench/evaluate.py --precision bf16      # bare forward in bf16 autocast (CUDA)
    python bench/evaluate.py --device cpu --frames 3 --reps 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - sets up the import path first
import numpy as np
import torch

from deblurflow.evaluation import TestSplit, evaluate
from deblurflow.inference import deblur
from deblurflow.models import build_generator
from deblurflow.params import ModelParams
from deblurflow.runtime import Runtime, pick_runtime

# Issue 4's targets for one 1280x720 frame through the seed generator, ms.
TARGETS = {"H200": 10.0, "cpu": 3000.0}


def bare_forward_ms(
    gen: torch.nn.Module, runtime: Runtime, args: argparse.Namespace
) -> tuple[float, float]:
    """(median, min) ms of one generator forward on a 1280x720 frame already on the device."""
    device = runtime.device
    x = torch.rand(1, 3, 720, 1280, device=device) * 2 - 1  # multiples of 4: no padding
    if runtime.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode(), runtime.autocast():
        for i in range(args.warmup + args.reps):
            common.sync(device)
            t0 = time.perf_counter()
            gen(x)
            common.sync(device)
            if i >= args.warmup:
                times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times)), float(np.min(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--frames", type=int, default=None, help="test frames (default 20 CUDA, 3 CPU)")
    ap.add_argument("--reps", type=int, default=None, help="timed bare forwards (50 CUDA, 3 CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed forwards (10 CUDA, 1 CPU)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bare forward")
    ap.add_argument("--channels-last", action="store_true", help="bare forward in channels_last")
    ap.add_argument("--eval-precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="evaluate (default: auto, as the stage runs)")  # fmt: skip
    ap.add_argument("--channels", type=int, default=64, help="generator width (seed: 64)")
    ap.add_argument("--res-blocks", type=int, default=6)
    args = ap.parse_args()

    # The evaluate stage's runtime, and the bare forward's: same device, the flags' precision.
    runtime = pick_runtime(args.device, args.eval_precision)  # cudnn.benchmark on CUDA
    device = runtime.device
    bare = Runtime(
        device,
        torch.bfloat16 if args.precision == "bf16" else None,
        channels_last=args.channels_last,
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    args.frames = args.frames or (20 if cuda else 3)
    args.reps = args.reps or (50 if cuda else 3)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    torch.manual_seed(0)
    gen = build_generator(
        ModelParams(generator="resnet", channels=args.channels, res_blocks=args.res_blocks)
    )
    gen = gen.to(device).eval()
    if args.channels_last:
        gen = gen.to(memory_format=torch.channels_last)

    eval_prec = "fp32" if runtime.amp_dtype is None else "bf16"
    print(f"device: {common.describe_device(device)}")
    print(
        f"generator: {args.channels} channels, {args.res_blocks} blocks | 1280x720 frames | "
        f"bare: {args.precision}, channels_last {args.channels_last}, {args.warmup} warm-up + "
        f"{args.reps} timed | evaluate: {eval_prec} ({args.eval_precision}), {args.frames} frames"
    )
    bare_med, bare_min = bare_forward_ms(gen, bare, args)

    blur, sharp = common.photo_pairs(args.frames, 1280, 720)
    names = [("BENCH", f"{i:06d}") for i in range(args.frames)]
    # The evaluate stage's model is fp32 and contiguous; reset what --channels-last changed.
    gen = gen.to(memory_format=torch.contiguous_format)
    # The untimed warm-up deblur evaluate() would run, done here so that the wall time per
    # frame starts after it.
    deblur(gen, blur[0], device, runtime.amp_dtype)
    common.sync(device)
    with tempfile.TemporaryDirectory(prefix="bench_eval_") as tmp:
        start = time.perf_counter()
        summary, _ = evaluate(
            gen, TestSplit(blur, sharp, names), runtime, Path(tmp) / "samples", samples=4,
            warmup=False,
        )  # fmt: skip
        common.sync(device)
        end = time.perf_counter()
    per_frame = (end - start) * 1000 / args.frames

    print()
    print(f"bare forward        : {bare_med:10.1f} ms/frame (median; min {bare_min:.1f})")
    print(f"evaluate, deblur    : {summary['ms_per_image']:10.1f} ms/frame (evaluate's own timing)")
    print(f"evaluate, + metrics : {per_frame:10.1f} ms/frame (wall, PSNR/SSIM and samples too)")
    print(
        f"ratio evaluate/bare : {summary['ms_per_image'] / bare_med:.2f}x (deblur), "
        f"{per_frame / bare_med:.2f}x (with metrics)"
    )
    key = "cpu" if not cuda else next((k for k in TARGETS if k in torch.cuda.get_device_name()), "")
    if key in TARGETS:
        limit = TARGETS[key]
        verdicts = [
            f"{'met' if ms <= limit else 'NOT met'} by the {what}"
            for what, ms in (
                ("bare forward", bare_med),
                ("evaluate deblur", summary["ms_per_image"]),
            )
        ]
        print(f"target <= {limit:.0f} ms/frame (issue 4, {key}): {'; '.join(verdicts)}")


if __name__ == "__main__":
    main()
