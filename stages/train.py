"""DVC stage `train`: GAN training on data/prepared, tracked in the pipeline's MLflow run.

With train.devices > 1 the stage relaunches itself under torchrun (DDP, one process per GPU);
rank 0 alone logs to MLflow and writes outputs.
"""

import argparse
import sys
from pathlib import Path

from deblurflow import stage
from deblurflow.params import load_params
from deblurflow.training import guard  # noqa: F401 - before torch: notes the parent PID
from deblurflow.training.checkpoint import CheckpointError
from deblurflow.training.run import TrainPaths, run_stage, stopped_at


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--checkpoints", type=Path, default=Path("models/checkpoints"))
    ap.add_argument("--history", type=Path, default=Path("metrics/train_history.csv"))
    ap.add_argument("--run-file", type=Path, default=Path("models/mlflow_run.json"))
    ap.add_argument("--plot", type=Path, default=Path("metrics/training_curves.png"))
    paths = TrainPaths(**vars(ap.parse_args()))
    return stage.run(
        "train", lambda: run_stage(load_params(paths.params), paths, sys.argv),
        (CheckpointError, RuntimeError), clean=[paths.history, paths.run_file],
        on_interrupt=lambda: stopped_at(paths.checkpoints),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
