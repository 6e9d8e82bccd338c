"""The train stage: ``loop.train`` inside the pipeline's MLflow run, writing the stage's outputs.

One trainer per checkpoints folder (``guard.checkpoint_lock``), stopped when its parent (dvc)
goes away (``guard.ParentWatch``). The MLflow run is started or continued when training starts
and stays RUNNING for select and evaluate; a failure marks it FAILED, an interruption KILLED.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from .. import atomic, distributed
from ..inference import deblur
from ..params import Params, flatten
from ..plots import plot_history
from ..prepared import load_split
from ..runtime import Runtime, pick_runtime
from ..tracking import Run, epoch_metrics, read_run_id
from ..tracking.state import data_hash, run_name
from .checkpoint import CheckpointError, read_history, write_history_csv
from .guard import ParentWatch, checkpoint_lock
from .loop import History, train

log = logging.getLogger(__name__)

# Failures that mark the MLflow run FAILED (anything else, e.g. Ctrl-C, marks it KILLED).
FAILURES = (ValueError, OSError, RuntimeError)


@dataclass(frozen=True)
class TrainPaths:
    """Where the train stage reads and writes (dvc.yaml's ``cmd`` names them)."""

    params: Path  #: params.yaml, also for the run's name (what differs from the committed one)
    data: Path  #: data/prepared
    checkpoints: Path  #: models/checkpoints (persisted: resumes after a kill)
    history: Path  #: metrics/train_history.csv
    run_file: Path  #: models/mlflow_run.json
    plot: Path  #: metrics/training_curves.png


def run_stage(params: Params, paths: TrainPaths, argv: list[str]) -> int:
    """The whole train stage; relaunches itself under torchrun when ``train.devices`` > 1."""
    tp = params.train
    if tp.devices > 1 and "LOCAL_RANK" not in os.environ:
        with ParentWatch():  # torchrun's agent passes a SIGTERM on to its workers
            return distributed.relaunch(tp.devices, argv)
    with distributed.process_group(tp.device) as (rank, world):
        runtime = pick_runtime(tp.device, tp.precision, rank=rank, world_size=world)
        guard = checkpoint_lock(paths.checkpoints) if runtime.is_main else contextlib.nullcontext()
        with guard, ParentWatch():
            if runtime.is_main:  # temp files a killed trainer left, now that none can be ours
                atomic.clean_stale(paths.checkpoints)
            run_training(params, paths, runtime)
    return 0


def run_training(params: Params, paths: TrainPaths, runtime: Runtime) -> None:
    """Train into ``paths`` on ``runtime``, tracked in the pipeline's MLflow run."""
    tracker = Run(enabled=runtime.is_main)
    # A copy of the run file inside the persisted checkpoints folder lets a resumed run
    # continue the MLflow run it was killed in.
    resume_file = paths.checkpoints / "mlflow_run.json"
    # Read before training starts: a fresh start deletes it, and its run must not stay RUNNING.
    prior = read_run_id(resume_file, quiet=True)
    monitor = contextlib.ExitStack()
    val_blur, val_sharp = (np.asarray(a[0]) for a in load_split(paths.data, "val"))

    def on_start(history: History) -> None:
        tracker.start_training(history, flatten(params), paths.run_file, resume_file, prior,
                               name=run_name(paths.params))  # fmt: skip
        tracker.describe()
        tracker.log_dataset(paths.data, data_hash())
        monitor.enter_context(tracker.system_metrics())

    def on_epoch(history: History, generator: nn.Module) -> None:
        epoch = int(history[-1]["epoch"])
        panel = np.concatenate([val_blur, deblur(generator, val_blur), val_sharp], axis=1)
        tracker.log_image(panel, f"val_samples/epoch_{epoch:04d}.png")
        tracker.log_metrics(epoch_metrics(history[-1]), epoch)
        write_history_csv(paths.history, history)

    try:
        result = train(
            params, paths.data, paths.checkpoints, runtime, on_log=tracker.log_metrics,
            on_epoch=on_epoch, wrap=distributed.wrapper(runtime), on_start=on_start,
        )  # fmt: skip
    except BaseException as exc:
        monitor.close()
        tracker.finish("FAILED" if isinstance(exc, FAILURES) else "KILLED")
        raise
    monitor.close()
    if runtime.is_main:
        write_history_csv(paths.history, result.history)
        plot_history(result.history, paths.plot)  # a DVC image plot: renders offline
        tracker.log_metrics({"train_images_per_s": result.images_per_s})
        tracker.log_artifact(paths.history)
        tracker.log_artifact(paths.plot)
        # The run stays RUNNING: evaluate ends it, select and evaluate mark it FAILED if they
        # fail (tracking.stage_run).


def stopped_at(ckpt_dir: Path) -> str:
    """Where a stopped training can go on from, in one line."""
    try:
        done = int(read_history(ckpt_dir)[-1]["epoch"])
    except (CheckpointError, IndexError, KeyError, ValueError):
        return "no epoch was complete; `dvc repro` starts training again"
    return f"epochs 1-{done} are saved in {ckpt_dir}; `dvc repro` resumes after epoch {done}"
