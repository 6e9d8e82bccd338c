"""GAN training: ResNet generator vs PatchGAN discriminator, adversarial + lambda_pix * L1.

- ``pairs``: the prepared pairs as uint8 tensors on the device, random crops and flips there;
- ``step``: one GAN step (D step, then G step with D frozen) returning named losses;
- ``validation``: per-epoch L1 / PSNR / SSIM on whole val frames;
- ``checkpoint``: resume key, atomic checkpoints, snapshot pruning, history files;
- ``loop``: ``train()``, the recipe that puts them together.

The names below are re-exported lazily (on first use), so that importing
``deblurflow.training.checkpoint`` alone (the select stage) does not load the training loop.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PairStore": "pairs",
    "data_home": "pairs",
    "epoch_batches": "pairs",
    "to_unit": "pairs",
    "DEVICE_DATA_SHARE": "pairs",
    "gan_step": "step",
    "validate": "validation",
    "CHECKPOINT_FORMAT": "checkpoint",
    "SELECTABLE": "checkpoint",
    "CheckpointError": "checkpoint",
    "code_fingerprint": "checkpoint",
    "keep_epochs": "checkpoint",
    "load_resumable": "checkpoint",
    "read_history": "checkpoint",
    "resume_key": "checkpoint",
    "snapshot_path": "checkpoint",
    "write_history_csv": "checkpoint",
    "TrainResult": "loop",
    "train": "loop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
