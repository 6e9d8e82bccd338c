"""The seed papers' comparison table: the rows that need no downloaded weights, each trained at
the same CPU budget by the pipeline's own train -> select -> evaluate, one MLflow run per row.

Rows (``--row``, default all five):

- ``default``: params.yaml as it is (the demo model);
- ``hust``, ``hacettepe``: the papers as published (``deblurflow.recipes``' sample overrides);
- ``deblurgan-novgg``, ``deblurganv2-novgg``: DeblurGAN's and DeblurGAN-v2's adversarial
  set-ups WITHOUT their VGG term (``train.lambda_perceptual=0``; labelled so in the table):
  DeblurGAN's generator then learns from its WGAN-GP critic alone, DeblurGAN-v2's from
  0.5 MSE + 0.01 RaGAN-LS.

The budget is wall time on the training steps (validation not counted): ``--seconds S``
each; or ``--steps N`` each (equal steps, not equal time); by default the default row trains
its params.yaml budget first and every other row gets the seconds it took. A row's steps for a
time budget come from timing a few of its own steps first (``--calibrate``). Each row's
``--epochs`` validations let select pick its best epoch, as in the pipeline.

The table: generator parameters, training seconds and steps, PSNR / SSIM on the test split and
on the real pairs (params.yaml's ``evaluate.real_pairs``, or ``--real``), each with the blurred
input's score and the gain, and ms per 640x360 frame (whole frame, the evaluate stage's device
and precision).

    .venv/bin/python bench/papers.py                       # full budget: minutes per row
    .venv/bin/python bench/papers.py --seconds 600 --row hust --row default
    .venv/bin/python bench/papers.py --steps 2 --epochs 1 --set model.channels=8 \\
        --set model.d_channels=8 --set train.batch_size=2     # a smoke run, not a result
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import yaml

from deblurflow import tracking
from deblurflow.evaluation import evaluate, evaluate_real, load_test_split
from deblurflow.inference import deblur
from deblurflow.models import load_generator
from deblurflow.params import flatten, parse_params
from deblurflow.recipes import PAPERS, apply, overrides
from deblurflow.runtime import pick_runtime
from deblurflow.selection import select_checkpoint
from deblurflow.training.loop import train

NO_VGG = {"train.lambda_perceptual": 0.0}
#: row -> (label, paper recipe or None for params.yaml as is, extra overrides)
ROWS = {
    "default": ("default (params.yaml)", None, {}),
    "hust": (PAPERS["hust"].title, "hust", {}),
    "hacettepe": (PAPERS["hacettepe"].title, "hacettepe", {}),
    "deblurgan-novgg": ("DeblurGAN set-up WITHOUT its VGG term (WGAN-GP alone)", "deblurgan",
                        NO_VGG),
    "deblurganv2-novgg": ("DeblurGAN-v2 set-up WITHOUT its VGG term (0.5 MSE + 0.01 RaGAN-LS)",
                          "deblurganv2", NO_VGG),
}  # fmt: skip


def row_params(base: dict, row: str, epochs: int | None, steps: int | None, extra: list[str]):
    """params.yaml + the row's recipe (sample scale-down) + its overrides + the budget."""
    _, paper, fixed = ROWS[row]
    changes = {**(overrides(paper, "sample") if paper else {}), **fixed}
    if steps is not None:
        epochs = epochs or 1
        changes.update({"train.epochs": epochs, "train.steps_per_epoch": max(1, steps // epochs)})
    for item in extra:
        key, _, value = item.partition("=")
        changes[key] = yaml.safe_load(value)
    return parse_params(apply(base, changes))


def seconds_per_step(params, data: Path, runtime, steps: int) -> float:
    """Training seconds per step of ``params``, timed over ``steps`` steps (one epoch)."""
    import dataclasses

    probe = dataclasses.replace(
        params, train=dataclasses.replace(params.train, epochs=1, steps_per_epoch=steps)
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train(probe, data, Path(tmp), runtime)
    return result.history[-1]["seconds"] / steps


def ms_per_frame(generator, runtime, width: int = 640, height: int = 360, repeats: int = 3):
    """Median ms to deblur one ``width`` x ``height`` frame whole (after one warm-up)."""
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    generator = runtime.place(generator.to(runtime.device))
    args = (runtime.device, runtime.amp_dtype, runtime.channels_last)
    deblur(generator, rgb, *args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        deblur(generator, rgb, *args)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def score(summary: dict[str, float], key: str) -> str:
    """'29.10 (28.50, +0.60)' for key psnr/ssim of a test or real summary; n/a when absent."""
    prefix = "real_" if "real_psnr" in summary else ""
    out_key = f"{prefix or 'test_'}{key}"
    if out_key not in summary:
        return "n/a"
    out, inp, gain = (summary[out_key], summary[f"{prefix}input_{key}"],
                      summary[f"{prefix}gain_{key}"])  # fmt: skip
    fmt = "{:.2f}" if key == "psnr" else "{:.4f}"
    sign = "{:+.2f}" if key == "psnr" else "{:+.4f}"
    return f"{fmt.format(out)} ({fmt.format(inp)}, {sign.format(gain)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--params", type=Path, default=common.REPO / "params.yaml")
    ap.add_argument("--data", type=Path, default=common.REPO / "data" / "prepared")
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="training seconds per row")
    budget.add_argument("--steps", type=int, help="training steps per row (equal steps)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="validations per row (default: params.yaml's train.epochs)")  # fmt: skip
    ap.add_argument("--calibrate", type=int, default=4, help="steps timed per row (--seconds)")
    ap.add_argument("--row", action="append", choices=list(ROWS), help="default: all")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override after the recipe, for every row (smoke runs: narrower networks)",
    )
    ap.add_argument("--test-images", type=int, default=None, help="cap on test frames")
    ap.add_argument(
        "--real",
        type=Path,
        action="append",
        help="real-pairs folder (default: params.yaml's evaluate.real_pairs)",
    )
    ap.add_argument("--no-mlflow", action="store_true")
    args = ap.parse_args()
    base = yaml.safe_load(args.params.read_text())
    rows = args.row or list(ROWS)
    if args.seconds is None and args.steps is None and rows[0] != "default":
        rows = ["default", *rows]  # its params.yaml budget sets everyone's seconds
    epochs = args.epochs or base["train"]["epochs"]
    seconds = args.seconds
    print(f"device: {common.describe_device(pick_runtime().device)}; data {args.data}; budget: "
          + (f"{args.steps} steps per row" if args.steps else
             f"{seconds:g} s per row" if seconds else "the default row's training time")
          + f", {epochs} epochs")  # fmt: skip
    table = [
        "| row | G params | train s | steps | test PSNR (input, gain) | test SSIM (input, gain) "
        "| real PSNR (input, gain) | real SSIM (input, gain) | ms per 640x360 |",
        "|---|---:|---:|---:|---|---|---|---|---:|",
    ]
    for row in rows:
        label = ROWS[row][0]
        if args.steps is not None:
            params = row_params(base, row, epochs, args.steps, args.set)
        elif seconds is None:  # the default row first, at its own params.yaml budget
            params = row_params(base, row, None, None, args.set)
        else:
            probe = row_params(base, row, epochs, epochs, args.set)
            runtime = pick_runtime(probe.train.device, probe.train.precision)
            per_step = seconds_per_step(probe, args.data, runtime, args.calibrate)
            params = row_params(base, row, epochs, round(seconds / per_step), args.set)
        runtime = pick_runtime(params.train.device, params.train.precision)
        run = tracking.Run(enabled=not args.no_mlflow)
        run.start(f"papers-{row}", flatten(params), {"bench": "papers", "row": row})
        with tempfile.TemporaryDirectory() as tmp:
            result = train(params, args.data, Path(tmp), runtime)
            train_s = sum(r["seconds"] for r in result.history)
            steps = int(result.history[-1]["step"])  # early stopping may end a row sooner
            _, path = select_checkpoint(Path(tmp), params.select.metric)
            generator, _ = load_generator(path)
        if seconds is None and args.steps is None:
            seconds = train_s  # every later row trains this long
        eval_rt = pick_runtime(params.evaluate.device, params.evaluate.precision)
        test, _ = evaluate(generator, load_test_split(args.data), eval_rt, samples=0,
                           max_images=args.test_images)  # fmt: skip
        real_size = params.evaluate.real_size or params.prepare.size
        real_dirs = args.real or [common.REPO / f for f in params.evaluate.real_pairs]
        real, _ = evaluate_real(generator, real_dirs, real_size, eval_rt)
        ms = ms_per_frame(generator, eval_rt)
        n_params = sum(p.numel() for p in generator.parameters())
        run.log_metrics({**test, **real, "train_seconds": train_s, "train_steps": steps,
                         "generator_params": n_params, "ms_per_640x360": ms})  # fmt: skip
        run.finish()
        line = (
            f"| {label} | {n_params:,} | {train_s:.0f} | {steps} | {score(test, 'psnr')} | "
            f"{score(test, 'ssim')} | {score(real, 'psnr')} | {score(real, 'ssim')} | {ms:.0f} |"
        )
        table.append(line)
        print(line, flush=True)
    print("\n".join(table))


if __name__ == "__main__":
    main()
