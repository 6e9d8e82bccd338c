"""Learning-rate schedules and early stopping as pure functions of the step and the history:
nothing to save, resume-proof (a resumed run replays the same history to the same state)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..params import LOWER_IS_BETTER, TrainParams


def lr_factor(tp: TrainParams, step: int, total_steps: int) -> float:
    """Per-step multiplier of the base learning rate for 0-based ``step`` of ``total_steps``.

    Linear warm-up over ``warmup_steps`` (step 0 gets 1/warmup), then: constant (and plateau,
    whose epoch-wise factor is ``plateau_scale``); a cosine from 1 down to ``lr_min`` at the
    last step (SGDR without restarts, Loshchilov & Hutter); or linear_decay, constant for the
    first ``decay_start`` share of the steps after warm-up, then linear down to ``lr_min`` at
    the last step (DeblurGAN: 150 epochs constant, 150 down to 0).
    """
    if step < tp.warmup_steps:
        return (step + 1) / tp.warmup_steps
    if tp.schedule in ("constant", "plateau"):
        return 1.0
    span = max(1, total_steps - 1 - tp.warmup_steps)
    progress = min(1.0, (step - tp.warmup_steps) / span)
    if tp.schedule == "linear_decay":
        if progress <= tp.decay_start:
            return 1.0
        return 1.0 - (1.0 - tp.lr_min) * (progress - tp.decay_start) / (1.0 - tp.decay_start)
    return tp.lr_min + (1.0 - tp.lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


def epochs_without_improvement(values: Sequence[float], lower_is_better: bool) -> list[int]:
    """For each epoch, how many epochs in a row (ending there) did not beat the best so far."""
    best = math.inf if lower_is_better else -math.inf
    waits, wait = [], 0
    for v in values:
        if (v < best) if lower_is_better else (v > best):
            best, wait = v, 0
        else:
            wait += 1
        waits.append(wait)
    return waits


def plateau_scale(tp: TrainParams, history: Sequence[dict[str, float]]) -> float:
    """The lr multiplier after the epochs in ``history`` under ``schedule: plateau``.

    Keras' ReduceLROnPlateau (Hacettepe): after ``plateau_patience`` epochs in a row without a
    better ``plateau_metric``, multiply by ``plateau_factor`` and start counting again.
    """
    if tp.schedule != "plateau":
        return 1.0
    values = [row[tp.plateau_metric] for row in history]
    lower = LOWER_IS_BETTER[tp.plateau_metric]
    best = math.inf if lower else -math.inf
    scale, wait = 1.0, 0
    for v in values:
        if (v < best) if lower else (v > best):
            best, wait = v, 0
        else:
            wait += 1
            if wait >= tp.plateau_patience:
                scale *= tp.plateau_factor
                wait = 0
    return scale


def should_stop(tp: TrainParams, history: Sequence[dict[str, float]]) -> bool:
    """Early stopping (Keras' EarlyStopping): ``early_stop_patience`` epochs in a row without a
    better ``early_stop_metric``."""
    if tp.early_stop_patience is None or not history:
        return False
    values = [row[tp.early_stop_metric] for row in history]
    waits = epochs_without_improvement(values, LOWER_IS_BETTER[tp.early_stop_metric])
    return waits[-1] >= tp.early_stop_patience


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
