"""Whether a checkpoint may be resumed: the resume key (params, data, code, warm start).

A killed train stage started again continues from ``last.pt`` only when its key matches;
a finished one whose key matches is adopted instead of retrained (``loop.Training.restore``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import torch

from ..params import Params, to_dict
from .checkpoint import CHECKPOINT_FORMAT, read_last

log = logging.getLogger(__name__)

# Keys that may change between a killed run and its resume without changing what is learned
# (init_from: its content, not its path, is in the key).
RESUMABLE_CHANGES = ("epochs", "log_every", "compile", "val_max_images", "init_from")

PACKAGE = Path(__file__).resolve().parents[1]  # src/deblurflow


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


def file_hash(path: str | Path) -> str:
    """sha256 of a file's content, 16 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def resume_key(params: Params, fingerprint: str) -> dict[str, Any]:
    """What must be identical for a checkpoint to be resumed: params, data, code and the
    warm-start weights (``train.init_from``'s content).

    ``fingerprint`` identifies the training data (``prepared.fingerprint``)."""
    train = {k: v for k, v in to_dict(params.train).items() if k not in RESUMABLE_CHANGES}
    key = {
        "seed": params.seed,
        "lambda_pix": params.lambda_pix,
        "model": to_dict(params.model),
        "train": train,
        "data": fingerprint,
        "code": code_fingerprint(),
    }
    if params.train.init_from is not None:
        if not Path(params.train.init_from).is_file():
            raise ValueError(f"train.init_from: {params.train.init_from}: no such file")
        key["init_from"] = file_hash(params.train.init_from)
    return key


def load_resumable(ckpt_dir: Path, key: dict[str, Any], device: torch.device) -> dict | None:
    """The last complete checkpoint when it matches ``key``; None (start fresh) otherwise."""
    path = ckpt_dir / "last.pt"
    try:
        state = read_last(ckpt_dir, device)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, then ignored
        log.warning("%s is unreadable (%s); starting training from scratch", path, exc)
        return None
    if state is None:
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
