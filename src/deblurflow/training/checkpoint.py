"""Checkpoints of a training run, and what decides whether one may be resumed.

Files in the checkpoints folder (``models/checkpoints``):
- ``last.pt``: everything needed to resume (G, D, both optimizers, epoch, step, params,
  history), rewritten atomically after every epoch;
- ``epoch_NNNN.pt``: generator snapshots of the epochs the select stage may pick (the best so
  far under each selectable metric, and the last), so disk use stays bounded;
- ``history.json``: per-epoch losses and validation metrics.

The checkpoint format: train writes these files, select and the next train read them, all
through this module (what may be resumed is ``resume.py``'s concern).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import atomic
from ..models import save_generator
from ..params import LOWER_IS_BETTER, Params, to_dict

CHECKPOINT_FORMAT = "deblurflow-checkpoint/1"
#: the validation metrics select may pick the best epoch by
SELECTABLE = ("val_l1", "val_psnr", "val_ssim")


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or belongs to a different configuration."""


def clear_checkpoints(ckpt_dir: Path) -> None:
    """Remove a previous run's checkpoints, history and MLflow run copy (a fresh start)."""
    names = ("last.pt", "history.json", "mlflow_run.json")
    for p in list(ckpt_dir.glob("epoch_*.pt")) + [ckpt_dir / n for n in names]:
        p.unlink(missing_ok=True)


def best_row(history: list[dict[str, float]], metric: str) -> dict[str, float]:
    """The history row that is best under ``metric``; ties go to the earliest epoch."""
    best = min if LOWER_IS_BETTER[metric] else max
    return best(history, key=lambda row: row[metric])


def keep_epochs(history: list[dict[str, float]]) -> set[int]:
    """Epochs whose generator snapshot the select stage may need, whatever its metric."""
    return {history[-1]["epoch"]} | {best_row(history, m)["epoch"] for m in SELECTABLE}


def snapshot_path(ckpt_dir: Path, epoch: int) -> Path:
    return ckpt_dir / f"epoch_{epoch:04d}.pt"


def write_epoch(
    ckpt_dir: Path,
    epoch: int,
    step: int,
    key: dict[str, Any],
    params: Params,
    gen_model: nn.Module,
    disc_model: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    history: list[dict[str, float]],
) -> None:
    """Snapshot G, rewrite last.pt and history.json atomically, prune unneeded snapshots."""
    row = history[-1]
    save_generator(
        snapshot_path(ckpt_dir, epoch),
        gen_model,
        params.model,
        epoch=epoch,
        metrics={k: float(row[k]) for k in SELECTABLE},
    )
    state = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "step": step,
        "key": key,
        "params": to_dict(params),
        "generator": gen_model.state_dict(),
        "discriminator": disc_model.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "history": history,
    }
    buffer = io.BytesIO()  # in memory first: a full disk is then ENOSPC with the size needed
    torch.save(state, buffer)
    atomic.write_bytes(ckpt_dir / "last.pt", buffer.getbuffer())
    atomic.write_json(ckpt_dir / "history.json", history)
    keep = keep_epochs(history)
    for p in ckpt_dir.glob("epoch_*.pt"):
        if int(p.stem.split("_")[1]) not in keep:
            p.unlink()


def read_last(ckpt_dir: Path, device: torch.device) -> dict[str, Any] | None:
    """last.pt (None when absent); raises what torch.load raises on a damaged file."""
    path = ckpt_dir / "last.pt"
    if not path.exists():
        return None
    return torch.load(path, map_location=device, weights_only=True)


def read_history(ckpt_dir: Path) -> list[dict[str, float]]:
    path = ckpt_dir / "history.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: missing or unreadable training history ({exc})") from exc


HISTORY_COLUMNS = (
    "epoch", "step", "loss_g", "loss_d", "loss_adv", "loss_pix",
    "val_l1", "val_psnr", "val_ssim", "val_loss", "val_psnr_input", "seconds", "images_per_s",
)  # fmt: skip


def write_history_csv(path: Path, history: list[dict[str, float]]) -> None:
    """Per-epoch losses and val metrics as CSV, for `dvc plots`."""
    lines = [",".join(HISTORY_COLUMNS)]
    for row in history:
        lines.append(",".join(_fmt(row.get(c, "")) for c in HISTORY_COLUMNS))
    atomic.write_text(path, "\n".join(lines) + "\n")


def _fmt(v: Any) -> str:
    return str(v) if isinstance(v, int) else f"{v:.6g}" if isinstance(v, float) else str(v)
