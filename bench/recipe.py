"""Recipe ablation: the pipeline's own train -> select -> evaluate for params variants, one run.

Each variant is params.yaml plus ``key=value`` overrides (as ``dvc exp run -S`` takes them),
trained by ``deblurflow.training.train`` on one prepared folder into a temporary checkpoint
folder, selected like the select stage and scored like the evaluate stage: validation PSNR,
test-split PSNR and real-pair PSNR, each beside the blurred input's, with seconds and images/s
so that variants of different speed can be compared at equal wall time. Variants run one after
the other in this process, on the same machine and data.

    .venv/bin/python bench/recipe.py --data data/prepared --steps 800 \\
        --variant default \\
        --variant "seed: model.generator=resnet train.optimizer=adam train.lr_g=0.0002 \\
                   train.beta1=0.5 train.beta2=0.999 train.pixel_loss=l1 train.schedule=constant \\
                   train.warmup_steps=0"
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
import yaml

from deblurflow.evaluation import evaluate, evaluate_real, load_test_split
from deblurflow.models import load_generator
from deblurflow.params import parse_params
from deblurflow.runtime import pick_runtime
from deblurflow.selection import select_checkpoint
from deblurflow.training.loop import train


def variant_params(base: dict, overrides: list[str], steps: int, epochs: int):
    """params.yaml's mapping with ``a.b=value`` overrides (YAML values) and the step budget."""
    raw = yaml.safe_load(yaml.safe_dump(base))  # a deep copy
    pairs = [*overrides, f"train.epochs={epochs}", f"train.steps_per_epoch={steps // epochs}"]
    for item in pairs:
        key, _, value = item.partition("=")
        node = raw
        *parents, leaf = key.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = yaml.safe_load(value)
    return parse_params(raw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--params", type=Path, default=common.REPO / "params.yaml")
    ap.add_argument("--data", type=Path, default=common.REPO / "data" / "prepared")
    ap.add_argument("--steps", type=int, default=800, help="training steps per variant")
    ap.add_argument("--epochs", type=int, default=4, help="validations (select picks among them)")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help="'NAME: key=value key=value' (or just NAME for params.yaml as is)",
    )
    args = ap.parse_args()
    base = yaml.safe_load(args.params.read_text())
    print(
        f"device: {common.describe_device(pick_runtime().device)}; data {args.data}; "
        f"{args.steps} steps per variant"
    )
    for spec in args.variant or ["default"]:
        name, _, rest = spec.partition(":")
        params = variant_params(base, rest.split(), args.steps, args.epochs)
        runtime = pick_runtime(params.train.device, params.train.precision)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train(params, args.data, Path(tmp), runtime)
            seconds = time.perf_counter() - t0
            row, path = select_checkpoint(Path(tmp), params.select.metric)
            generator, _ = load_generator(path)
        test, _ = evaluate(generator, load_test_split(args.data), runtime, samples=0)
        root = common.REPO
        real_size = params.evaluate.real_size or params.prepare.size
        real, _ = evaluate_real(
            generator, [root / f for f in params.evaluate.real_pairs], real_size, runtime
        )
        line = (
            f"{name.strip():24} {seconds:5.0f} s {result.images_per_s:6.1f} img/s | "
            f"val {row['val_psnr']:.2f} (input {row['val_psnr_input']:.2f}) | "
            f"test {test['test_psnr']:.2f} (input {test['input_psnr']:.2f}, "
            f"{test['gain_psnr']:+.2f})"
        )
        if real:
            line += (f" | real {real['real_psnr']:.2f} (input {real['real_input_psnr']:.2f}, "
                     f"{real['real_gain_psnr']:+.2f})")  # fmt: skip
        print(line, flush=True)


if __name__ == "__main__":
    main()
