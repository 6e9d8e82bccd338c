"""DVC stage `evaluate`: models/best.pt on the test split -> metrics/eval.json, samples."""

import argparse
import logging
import sys
from pathlib import Path

from deblurflow import atomic, registry, run_info, stage, tracking
from deblurflow.evaluation import evaluate, evaluate_real, load_test_split, write_per_image
from deblurflow.models import load_generator
from deblurflow.params import load_params
from deblurflow.runtime import DeviceError, pick_runtime

log = logging.getLogger("deblurflow.evaluate")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", type=Path, default=Path("models/best.pt"))
    ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--metrics", type=Path, default=Path("metrics/eval.json"))
    ap.add_argument("--per-image", type=Path, default=Path("metrics/eval_per_image.csv"))
    ap.add_argument("--samples", type=Path, default=Path("metrics/samples"))
    ap.add_argument("--run-file", type=Path, default=Path("models/mlflow_run.json"))
    args = ap.parse_args()
    return stage.run(
        "evaluate", lambda: run_evaluate(args), (DeviceError,),
        clean=[args.metrics, args.per_image, args.samples],
    )  # fmt: skip


def run_evaluate(args: argparse.Namespace) -> None:
    # The pipeline's MLflow run ends here: FINISHED, or FAILED if evaluating fails.
    with run_info.ends_run(args.run_file, finish=True) as tracker:
        evaluate_into(args, tracker)


def evaluate_into(args: argparse.Namespace, tracker: tracking.Tracker) -> None:
    params = load_params(args.params)
    runtime = pick_runtime(params.evaluate.device, params.evaluate.precision)
    generator, info = load_generator(args.model)
    split = load_test_split(args.data)
    # Relative real-pair folders are from the main workspace, also inside `dvc exp run --temp`.
    root = tracking.repo_root()
    real_folders = [root / f for f in params.evaluate.real_pairs]
    real_size = params.evaluate.real_size or params.prepare.size
    with atomic.atomic_dir(args.samples) as samples_dir:
        summary, rows = evaluate(
            generator, split, runtime, samples_dir, params.evaluate.samples,
            params.evaluate.max_images,
        )  # fmt: skip
        real, real_rows = evaluate_real(generator, real_folders, real_size, runtime, samples_dir)
    summary.update(real)
    rows += real_rows
    # Which blur the numbers are about: GoPro's blur_gamma (2.2) or plain sRGB average (1.0).
    summary["blur_gamma"] = params.blur.gamma
    summary["best_epoch"] = info.get("epoch")
    write_per_image(args.per_image, rows)
    atomic.write_json(args.metrics, summary)
    log.info(
        "test PSNR %.2f dB (input %.2f, gain %+.2f), SSIM %.4f (input %.4f), %.1f ms/image on %s",
        summary["test_psnr"], summary["input_psnr"], summary["gain_psnr"], summary["test_ssim"],
        summary["input_ssim"], summary["ms_per_image"], runtime.describe(),
    )  # fmt: skip
    if real:
        log.info(
            "real pairs (%d at long side %s): PSNR %.2f dB (input %.2f, gain %+.2f), "
            "SSIM %.4f (input %.4f)",
            real["real_images"], real_size, real["real_psnr"], real["real_input_psnr"],
            real["real_gain_psnr"], real["real_ssim"], real["real_input_ssim"],
        )  # fmt: skip

    numbers = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    tracker.log_metrics(numbers)
    tracker.log_artifact(args.metrics)
    tracker.log_artifact(args.per_image)
    tracker.log_artifacts(args.samples, "samples")
    tracker.log_artifact(args.model, "model")  # best.pt itself, beside the run's files
    tags = {k: v for k, v in numbers.items() if k.endswith(("psnr", "ssim"))}
    registry.log_generator(tracker, args.model, tags)  # an MLflow Model, registered


if __name__ == "__main__":
    sys.exit(main())
