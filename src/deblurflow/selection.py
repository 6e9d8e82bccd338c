"""Best-checkpoint selection by a validation metric (select stage)."""

from __future__ import annotations

from pathlib import Path

from .training.checkpoint import SELECTABLE, CheckpointError, read_history, snapshot_path


def best_epoch(history: list[dict[str, float]], metric: str) -> dict[str, float]:
    """The history row that is best under ``metric`` (lowest val_l1, highest PSNR/SSIM).

    Ties go to the earliest epoch.
    """
    if metric not in SELECTABLE:
        raise ValueError(f"unknown selection metric {metric!r}; choose from {sorted(SELECTABLE)}")
    if not history:
        raise CheckpointError("the training history is empty: no epoch to select")
    return SELECTABLE[metric](history, key=lambda row: row[metric])


def select_checkpoint(ckpt_dir: Path, metric: str) -> tuple[dict[str, float], Path]:
    """(best history row, path of its generator snapshot)."""
    row = best_epoch(read_history(ckpt_dir), metric)
    path = snapshot_path(ckpt_dir, int(row["epoch"]))
    if not path.exists():
        raise CheckpointError(f"{path}: the snapshot of the best epoch ({metric}) is missing")
    return row, path
