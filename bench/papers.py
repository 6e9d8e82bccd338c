"""The seed papers side by side: each recipe of ``deblurflow.recipes`` on the same prepared
data at an equal step budget, through the pipeline's own train -> select -> evaluate.

Each paper is params.yaml + its sample overrides (``recipes.overrides(name, "sample")``, the
README's sample command) + the budget (``--steps`` split over ``--epochs`` validations). One
MLflow run per paper (run name ``paper-NAME``, all params, test metrics, seconds), so
``mlflow ui`` shows them side by side; the table printed at the end is the one in
BENCHMARKS.md: test PSNR / SSIM gain over the blurred input, ms per image, generator params.

    .venv/bin/python bench/papers.py --data data/prepared --steps 400 --epochs 4
    .venv/bin/python bench/papers.py --steps 20 --epochs 2 --paper hust --paper hacettepe

Papers with a VGG perceptual term need torchvision's ImageNet VGG weights (the error says how
to get them); ``--random-vgg`` runs them with an untrained VGG instead. A smoke run that only
shows every row goes through (narrow networks, a few steps; not a result):

    .venv/bin/python bench/papers.py --steps 4 --epochs 2 --random-vgg --test-images 2 \
        --set model.channels=8 --set model.d_channels=8 --set train.batch_size=2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
import yaml

from deblurflow import tracking
from deblurflow.evaluation import evaluate, load_test_split
from deblurflow.models import load_generator
from deblurflow.params import flatten, parse_params
from deblurflow.recipes import PAPERS, apply, overrides
from deblurflow.runtime import pick_runtime
from deblurflow.selection import select_checkpoint
from deblurflow.training import train


def paper_params(base: dict, name: str, steps: int, epochs: int, extra: list[str]):
    """params.yaml + the paper's sample overrides + the equal step budget + ``key=value``s."""
    changes = {
        **overrides(name, "sample"),
        "train.epochs": epochs,
        "train.steps_per_epoch": max(1, steps // epochs),
    }
    for item in extra:
        key, _, value = item.partition("=")
        changes[key] = yaml.safe_load(value)
    return parse_params(apply(base, changes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--params", type=Path, default=common.REPO / "params.yaml")
    ap.add_argument("--data", type=Path, default=common.REPO / "data" / "prepared")
    ap.add_argument("--steps", type=int, default=400, help="training steps per paper")
    ap.add_argument("--epochs", type=int, default=4, help="validations (select picks among them)")
    ap.add_argument("--paper", action="append", choices=list(PAPERS), help="default: all")
    ap.add_argument("--random-vgg", action="store_true", help="untrained VGG (smoke test only)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override after the recipe (smoke runs: narrower networks)",
    )
    ap.add_argument("--test-images", type=int, default=None, help="cap on test frames")
    ap.add_argument("--no-mlflow", action="store_true")
    args = ap.parse_args()
    base = yaml.safe_load(args.params.read_text())
    print(f"device: {common.describe_device(pick_runtime().device)}; data {args.data}; "
          f"{args.steps} steps per paper in {args.epochs} epochs")  # fmt: skip
    table = ["| paper | G params | train s | test PSNR gain | test SSIM gain | ms/image |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name in args.paper or list(PAPERS):
        extra = args.set + (["train.perceptual_weights=random"] if args.random_vgg else [])
        params = paper_params(base, name, args.steps, args.epochs, extra)
        runtime = pick_runtime(params.train.device, params.train.precision)
        tracker = tracking.Tracker(enabled=not args.no_mlflow)
        tracker.start(f"paper-{name}", flatten(params), {"bench": "papers", "paper": name})
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train(params, args.data, Path(tmp), runtime)
            seconds = time.perf_counter() - t0
            row, path = select_checkpoint(Path(tmp), params.select.metric)
            generator, _ = load_generator(path)
        test, _ = evaluate(generator, load_test_split(args.data), runtime, samples=0,
                           max_images=args.test_images)  # fmt: skip
        n_params = sum(p.numel() for p in generator.parameters())
        tracker.log_metrics({**test, "train_seconds": seconds, "generator_params": n_params,
                             "train_images_per_s": result.images_per_s})  # fmt: skip
        tracker.finish()
        line = (
            f"| {name} | {n_params:,} | {seconds:.0f} | {test['gain_psnr']:+.2f} dB "
            f"({test['test_psnr']:.2f} vs {test['input_psnr']:.2f}) | {test['gain_ssim']:+.4f} | "
            f"{test['ms_per_image']:.0f} |"
        )
        table.append(line)
        print(line, flush=True)
    print("\n".join(table))


if __name__ == "__main__":
    main()
