"""DVC stage `train`: GAN training on data/prepared, tracked in a new MLflow run.

With train.devices > 1 this script relaunches itself under torchrun (DDP, one process per GPU);
rank 0 alone logs to MLflow and writes outputs.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

from deblurflow import distributed, tracking
from deblurflow.inference import deblur
from deblurflow.params import ParamsError, flatten, load_params
from deblurflow.prepare import load_split
from deblurflow.training import (
    CheckpointError,
    pick_runtime,
    train,
    write_history_csv,
)

log = logging.getLogger("deblurflow.train")


def epoch_metrics(row: dict) -> dict:
    """A history row as MLflow metrics; epoch loss means are epoch_loss_* (steps own loss_*)."""
    return {
        (f"epoch_{k}" if k.startswith("loss_") else k): v
        for k, v in row.items()
        if k not in ("epoch", "step")
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--checkpoints", type=Path, default=Path("models/checkpoints"))
    ap.add_argument("--history", type=Path, default=Path("metrics/train_history.csv"))
    ap.add_argument("--run-file", type=Path, default=Path("models/mlflow_run.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        params = load_params(args.params)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if params.train.devices > 1 and "LOCAL_RANK" not in os.environ:
        return distributed.relaunch(params.train.devices, sys.argv)

    with distributed.process_group(params.train) as (rank, world):
        runtime = pick_runtime(params.train, rank, world)
        tracker = tracking.Tracker(enabled=runtime.is_main)
        # A copy of the run file inside the persisted checkpoints folder lets a resumed run
        # continue the MLflow run it was killed in, instead of leaving that one dangling.
        ckpt_run_file = args.checkpoints / "mlflow_run.json"

        def on_start(history):
            resumed_from = int(history[-1]["epoch"]) if history else 0
            previous = tracking.read_run_id(ckpt_run_file, quiet=True) if resumed_from else None
            if previous:
                tracker.attach(previous)
                tracker.set_tags({"resumed_from_epoch": str(resumed_from)})
                # A kill between the checkpoint and the MLflow log loses that epoch's metrics.
                logged = tracker.logged_steps("val_l1")
                for row in history:
                    if int(row["epoch"]) not in logged:
                        tracker.log_metrics(epoch_metrics(row), int(row["epoch"]))
            if not tracker.run_id and tracker.enabled:
                name = os.environ.get("DVC_EXP_NAME")
                tracker.start(name, flatten(params), tracking.run_tags())
            tracking.write_run_file(args.run_file, tracker)
            tracking.write_run_file(ckpt_run_file, tracker)

        def on_log(losses, step):
            tracker.log_metrics(losses, step)

        def on_epoch(history, generator):
            row = history[-1]
            panel = np.concatenate([val_blur, deblur(generator, val_blur), val_sharp], axis=1)
            tracker.log_image(panel, f"val_samples/epoch_{int(row['epoch']):04d}.png")
            tracker.log_metrics(epoch_metrics(row), int(row["epoch"]))
            write_history_csv(args.history, history)

        try:
            val_blur, val_sharp = (np.asarray(a[0]) for a in load_split(args.data, "val"))
            result = train(
                params, args.data, args.checkpoints, runtime, on_log, on_epoch,
                wrap=distributed.wrapper(runtime), on_start=on_start,
            )  # fmt: skip
        except (CheckpointError, ValueError, RuntimeError, OSError) as exc:
            tracker.finish("FAILED")
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except BaseException:
            tracker.finish("KILLED")
            raise
        if runtime.is_main:
            write_history_csv(args.history, result.history)
            tracker.log_metrics({"train_images_per_s": result.images_per_s})
            tracker.log_artifact(args.history)
            tracker.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
