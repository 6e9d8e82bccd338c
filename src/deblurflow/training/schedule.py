"""Learning-rate schedules as a pure function of the step: nothing to save, resume-proof."""

from __future__ import annotations

import math

import torch

from ..params import TrainParams


def lr_factor(tp: TrainParams, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rate for 0-based ``step`` of ``total_steps``.

    Linear warm-up over ``warmup_steps`` (step 0 gets 1/warmup), then constant or a cosine
    from 1 down to ``lr_min`` at the last step (SGDR without restarts, Loshchilov & Hutter).
    """
    if step < tp.warmup_steps:
        return (step + 1) / tp.warmup_steps
    if tp.schedule == "constant":
        return 1.0
    span = max(1, total_steps - 1 - tp.warmup_steps)
    progress = min(1.0, (step - tp.warmup_steps) / span)
    return tp.lr_min + (1.0 - tp.lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
