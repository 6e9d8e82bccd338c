"""Best-checkpoint selection by a validation metric (select stage): models/best.pt and
metrics/select.json from the checkpoints folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import atomic
from .models import load_generator, save_generator
from .params import ModelParams
from .tracking import Run
from .training.checkpoint import SELECTABLE, CheckpointError, best_row, read_history, snapshot_path

log = logging.getLogger(__name__)


def best_epoch(history: list[dict[str, float]], metric: str) -> dict[str, float]:
    """The history row that is best under ``metric`` (lowest val_l1, highest PSNR/SSIM).

    Ties go to the earliest epoch.
    """
    if metric not in SELECTABLE:
        raise ValueError(f"unknown selection metric {metric!r}; choose from {sorted(SELECTABLE)}")
    if not history:
        raise CheckpointError("the training history is empty: no epoch to select")
    return best_row(history, metric)


def select_checkpoint(ckpt_dir: Path, metric: str) -> tuple[dict[str, float], Path]:
    """(best history row, path of its generator snapshot)."""
    row = best_epoch(read_history(ckpt_dir), metric)
    path = snapshot_path(ckpt_dir, int(row["epoch"]))
    if not path.exists():
        raise CheckpointError(f"{path}: the snapshot of the best epoch ({metric}) is missing")
    return row, path


def run(ckpt_dir: Path, metric: str, out: Path, metrics_file: Path, tracker: Run) -> dict[str, Any]:
    """The select stage: the best epoch's generator -> ``out`` (with its architecture), its
    summary -> ``metrics_file`` and the pipeline's MLflow run (``tracker``); returns the summary."""
    row, snapshot = select_checkpoint(ckpt_dir, metric)
    generator, info = load_generator(snapshot)
    model = ModelParams(**info["model"])  # the architecture the snapshot was trained with
    summary = {
        "epoch": int(row["epoch"]),
        "metric": metric,
        "value": float(row[metric]),
        **{k: float(row[k]) for k in SELECTABLE},
    }
    save_generator(out, generator, model, epoch=summary["epoch"], select=dict(summary))
    atomic.write_json(metrics_file, summary)
    log.info("best epoch %d by %s = %.4f -> %s", summary["epoch"], metric, summary["value"], out)
    tracker.log_metrics({"best_epoch": summary["epoch"], f"best_{metric}": summary["value"]})
    tracker.set_tags({"select.metric": metric})
    return summary
