"""DVC stage `evaluate`: models/best.pt on the test split and the real pairs -> metrics/eval.json,
the per-image CSV and samples; ends the pipeline's MLflow run (FINISHED, or FAILED)."""

import argparse
import sys
from pathlib import Path

from deblurflow import evaluation, stage, tracking
from deblurflow.params import load_params
from deblurflow.runtime import DeviceError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", type=Path, default=Path("models/best.pt"))
    ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--metrics", type=Path, default=Path("metrics/eval.json"))
    ap.add_argument("--per-image", type=Path, default=Path("metrics/eval_per_image.csv"))
    ap.add_argument("--samples", type=Path, default=Path("metrics/samples"))
    ap.add_argument("--run-file", type=Path, default=Path("models/mlflow_run.json"))
    args = vars(ap.parse_args())
    params_file, run_file = args.pop("params"), args.pop("run_file")
    paths = evaluation.EvalPaths(**args)

    def body() -> None:
        with tracking.stage_run(run_file, finish=True) as run:
            evaluation.run(load_params(params_file), paths, run)

    return stage.run("evaluate", body, (DeviceError,),
                     clean=[paths.metrics, paths.per_image, paths.samples])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
