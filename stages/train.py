"""DVC stage `train`: GAN training on data/prepared, tracked in a new MLflow run.

With train.devices > 1 this script relaunches itself under torchrun (DDP, one process per GPU);
rank 0 alone logs to MLflow and writes outputs.
"""

import argparse
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from deblurflow import distributed, run_info, stage, tracking
from deblurflow.inference import deblur
from deblurflow.params import Params, flatten, load_params
from deblurflow.plots import plot_history
from deblurflow.prepare import load_split
from deblurflow.runtime import Runtime, pick_runtime
from deblurflow.training.checkpoint import CheckpointError, read_history, write_history_csv
from deblurflow.training.loop import train

# Failures that mark the MLflow run FAILED (anything else, e.g. Ctrl-C, marks it KILLED).
FAILURES = (ValueError, OSError, RuntimeError)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--checkpoints", type=Path, default=Path("models/checkpoints"))
    ap.add_argument("--history", type=Path, default=Path("metrics/train_history.csv"))
    ap.add_argument("--run-file", type=Path, default=Path("models/mlflow_run.json"))
    ap.add_argument("--plot", type=Path, default=Path("metrics/training_curves.png"))
    args = ap.parse_args()

    def body() -> int | None:
        params = load_params(args.params)
        if params.train.devices > 1 and "LOCAL_RANK" not in os.environ:
            return distributed.relaunch(params.train.devices, sys.argv)
        tp = params.train
        with distributed.process_group(tp.device) as (rank, world):
            runtime = pick_runtime(tp.device, tp.precision, rank=rank, world_size=world)
            run_training(args, params, runtime)
        return 0

    outputs = [args.checkpoints, args.history, args.run_file]
    return stage.run(
        "train", body, (CheckpointError, RuntimeError), clean=outputs,
        on_interrupt=lambda: stopped_at(args.checkpoints),
    )  # fmt: skip


def stopped_at(ckpt_dir: Path) -> str:
    """Where a stopped training can go on from, in one line."""
    try:
        done = int(read_history(ckpt_dir)[-1]["epoch"])
    except (CheckpointError, IndexError, KeyError, ValueError):
        return "no epoch was complete; `dvc repro` starts training again"
    return f"epochs 1-{done} are saved in {ckpt_dir}; `dvc repro` resumes after epoch {done}"


def run_training(args: argparse.Namespace, params: Params, runtime: Runtime) -> None:
    tracker = tracking.Tracker(enabled=runtime.is_main)
    # A copy of the run file inside the persisted checkpoints folder lets a resumed run
    # continue the MLflow run it was killed in.
    resume_file = args.checkpoints / "mlflow_run.json"
    # Read before training starts: a fresh start deletes it, and its run must not stay RUNNING.
    prior = tracking.read_run_id(resume_file, quiet=True)

    metrics_monitor = contextlib.ExitStack()

    def on_start(history):
        tracking.start_training_run(
            tracker, history, flatten(params), args.run_file, resume_file, prior,
            name=run_info.run_name(args.params), extra_tags=run_info.standard_tags("dvc.yaml"),
        )  # fmt: skip
        run_info.describe(tracker)
        run_info.log_dataset(tracker, args.data, tracking.data_hash())
        metrics_monitor.enter_context(run_info.system_metrics(tracker))

    def on_epoch(history, generator):
        row = history[-1]
        panel = np.concatenate([val_blur, deblur(generator, val_blur), val_sharp], axis=1)
        tracker.log_image(panel, f"val_samples/epoch_{int(row['epoch']):04d}.png")
        tracker.log_metrics(tracking.epoch_metrics(row), int(row["epoch"]))
        write_history_csv(args.history, history)

    try:
        val_blur, val_sharp = (np.asarray(a[0]) for a in load_split(args.data, "val"))
        result = train(
            params, args.data, args.checkpoints, runtime, on_log=tracker.log_metrics,
            on_epoch=on_epoch, wrap=distributed.wrapper(runtime), on_start=on_start,
        )  # fmt: skip
    except BaseException as exc:
        metrics_monitor.close()
        tracker.finish("FAILED" if isinstance(exc, FAILURES) else "KILLED")
        raise
    metrics_monitor.close()
    if runtime.is_main:
        write_history_csv(args.history, result.history)
        plot_history(result.history, args.plot)  # a DVC image plot: renders offline
        tracker.log_metrics({"train_images_per_s": result.images_per_s})
        tracker.log_artifact(args.history)
        tracker.log_artifact(args.plot)
        # The run stays RUNNING: evaluate ends it (run_info.ends_run), select and evaluate
        # mark it FAILED if they fail.


if __name__ == "__main__":
    sys.exit(main())
