"""DVC stage `select`: the best checkpoint by select.metric -> models/best.pt.

(Not named select.py: a script folder on sys.path would shadow the stdlib module `select`.)
"""

import argparse
import sys
from pathlib import Path

from deblurflow import selection, stage, tracking
from deblurflow.params import load_params
from deblurflow.training.checkpoint import CheckpointError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--checkpoints", type=Path, default=Path("models/checkpoints"))
    ap.add_argument("--out", type=Path, default=Path("models/best.pt"))
    ap.add_argument("--metrics", type=Path, default=Path("metrics/select.json"))
    ap.add_argument("--run-file", type=Path, default=Path("models/mlflow_run.json"))
    args = ap.parse_args()

    def body() -> None:
        metric = load_params(args.params).select.metric
        with tracking.stage_run(args.run_file, finish=False) as run:
            selection.run(args.checkpoints, metric, args.out, args.metrics, run)

    return stage.run("select", body, (CheckpointError,), clean=[args.out, args.metrics])


if __name__ == "__main__":
    sys.exit(main())
