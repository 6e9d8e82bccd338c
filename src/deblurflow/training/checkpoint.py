"""Checkpoints of a training run, and what decides whether one may be resumed.

Files in the checkpoints folder (``models/checkpoints``):
- ``last.pt``: everything needed to resume (G, D, both optimizers, epoch, step, params,
  history), rewritten atomically after every epoch;
- ``epoch_NNNN.pt``: generator snapshots of the epochs the select stage may pick (the best so
  far under each selectable metric, and the last), so disk use stays bounded;
- ``history.json``: per-epoch losses and validation metrics.

The select stage reads these files through this module alone, not through the training loop.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import atomic
from ..models import save_generator
from ..params import Params, to_dict

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "deblurflow-checkpoint/1"
SELECTABLE = {"val_l1": min, "val_psnr": max, "val_ssim": max}
# Keys that may change between a killed run and its resume without changing what is learned.
RESUMABLE_CHANGES = ("epochs", "log_every", "compile", "val_max_images")

PACKAGE = Path(__file__).resolve().parents[1]  # src/deblurflow


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or belongs to a different configuration."""


def code_fingerprint() -> str:
    """Hash of the code that decides what is learned (this package, the losses, the models)."""
    files = [
        *sorted((PACKAGE / "training").glob("*.py")),
        PACKAGE / "losses.py",
        PACKAGE / "perceptual.py",
        *sorted((PACKAGE / "models").glob("*.py")),
    ]
    h = hashlib.sha256()
    for path in files:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def resume_key(params: Params, fingerprint: str) -> dict[str, Any]:
    """What must be identical for a checkpoint to be resumed: params, data and code.

    ``fingerprint`` identifies the training data (``prepare.fingerprint``)."""
    train = {k: v for k, v in to_dict(params.train).items() if k not in RESUMABLE_CHANGES}
    return {
        "seed": params.seed,
        "lambda_pix": params.lambda_pix,
        "model": to_dict(params.model),
        "train": train,
        "data": fingerprint,
        "code": code_fingerprint(),
    }


def load_resumable(ckpt_dir: Path, key: dict[str, Any], device: torch.device) -> dict | None:
    """The last complete checkpoint when it matches ``key``; None (start fresh) otherwise."""
    path = ckpt_dir / "last.pt"
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, then ignored
        log.warning("%s is unreadable (%s); starting training from scratch", path, exc)
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
        changes = key_changes(state.get("key") or {}, key) if state.get("key") else []
        log.warning(
            "%s was trained with different %s; not resuming from it (starting fresh)",
            path,
            "; ".join(changes) or "checkpoint format",
        )
        return None
    return state


def key_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """What differs between two resume keys, one ``train.lr_g 0.002 -> 0.001`` per leaf key."""
    out = []
    for k in sorted(set(old) | set(new), key=str):
        name, a, b = f"{prefix}{k}", old.get(k, "(unset)"), new.get(k, "(unset)")
        if isinstance(a, dict) and isinstance(b, dict):
            out += key_changes(a, b, name + ".")
        elif a != b:
            what = "data" if name == "data" else "code" if name == "code" else None
            out.append(f"{what} (fingerprint {a} -> {b})" if what else f"{name} {a!r} -> {b!r}")
    return out


def clear_checkpoints(ckpt_dir: Path) -> None:
    """Remove a previous run's checkpoints, history and MLflow run copy (a fresh start)."""
    names = ("last.pt", "history.json", "mlflow_run.json")
    for p in list(ckpt_dir.glob("epoch_*.pt")) + [ckpt_dir / n for n in names]:
        p.unlink(missing_ok=True)


def keep_epochs(history: list[dict[str, float]]) -> set[int]:
    """Epochs whose generator snapshot the select stage may need, whatever its metric."""
    keep = {history[-1]["epoch"]}
    for metric, best in SELECTABLE.items():
        keep.add(best(history, key=lambda row, m=metric: row[m])["epoch"])
    return keep


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
