"""Learning-rate schedule: warm-up and cosine values by hand; the loop applies them per step."""

from __future__ import annotations

import math

import pytest

from deblurflow.params import TrainParams
from deblurflow.training.schedule import lr_factor


def test_constant_is_one_everywhere():
    tp = TrainParams(schedule="constant", warmup_steps=0)
    assert [lr_factor(tp, s, 10) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]


def test_warmup_then_constant():
    tp = TrainParams(schedule="constant", warmup_steps=4)
    assert [lr_factor(tp, s, 10) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("lr_min", [0.0, 0.1])
def test_cosine_by_hand(lr_min):
    tp = TrainParams(schedule="cosine", warmup_steps=2, lr_min=lr_min)
    total = 12  # warm-up steps 0-1, cosine over steps 2..11 (span 9)
    assert lr_factor(tp, 0, total) == 0.5
    assert lr_factor(tp, 2, total) == pytest.approx(1.0)
    mid = lr_min + (1 - lr_min) * 0.5 * (1 + math.cos(math.pi * 4 / 9))
    assert lr_factor(tp, 6, total) == pytest.approx(mid)
    assert lr_factor(tp, 11, total) == pytest.approx(lr_min)
    assert lr_factor(tp, 20, total) == pytest.approx(lr_min)  # past the end: stays at the floor


def test_linear_decay_by_hand():
    from deblurflow.training.schedule import lr_factor as f

    tp = TrainParams(schedule="linear_decay", decay_start=0.5, lr_min=0.0, warmup_steps=0)
    total = 11  # progress = step / 10: constant to step 5, then 1 - (p - 0.5) / 0.5
    assert [f(tp, s, total) for s in (0, 3, 5)] == [1.0, 1.0, 1.0]
    assert f(tp, 6, total) == pytest.approx(0.8)
    assert f(tp, 8, total) == pytest.approx(0.4)
    assert f(tp, 10, total) == pytest.approx(0.0)
    floor = TrainParams(schedule="linear_decay", decay_start=0.0, lr_min=0.1, warmup_steps=0)
    assert f(floor, 5, total) == pytest.approx(1 - 0.9 * 0.5)


def _rows(metric, values):
    return [{metric: v} for v in values]


def test_plateau_scale_by_hand():
    from deblurflow.training.schedule import plateau_scale

    tp = TrainParams(schedule="plateau", plateau_patience=2, plateau_factor=0.5)
    # val_loss: 1.0 best, 1.1 (wait 1), 1.0 (not better: wait 2 -> x0.5, wait 0), 0.9 best,
    # 0.95 (1), 0.95 (2 -> x0.5)
    values = [1.0, 1.1, 1.0, 0.9, 0.95, 0.95]
    want = [1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    for n, scale in enumerate(want, start=1):
        assert plateau_scale(tp, _rows("val_loss", values[:n])) == scale, n
    # Higher is better for PSNR: rising values never plateau.
    up = TrainParams(schedule="plateau", plateau_patience=1, plateau_metric="val_psnr")
    assert plateau_scale(up, _rows("val_psnr", [20, 21, 22])) == 1.0
    assert plateau_scale(up, _rows("val_psnr", [20, 19, 18])) == 0.25
    assert plateau_scale(TrainParams(), _rows("val_loss", [1, 2, 3])) == 1.0  # not plateau


def test_early_stopping_by_hand():
    from deblurflow.training.schedule import should_stop

    tp = TrainParams(early_stop_patience=2, early_stop_metric="val_ssim")
    assert not should_stop(tp, [])
    assert not should_stop(tp, _rows("val_ssim", [0.5, 0.6, 0.6]))  # one epoch without gain
    assert should_stop(tp, _rows("val_ssim", [0.5, 0.6, 0.6, 0.59]))  # two
    assert not should_stop(tp, _rows("val_ssim", [0.5, 0.6, 0.6, 0.61]))
    assert not should_stop(TrainParams(), _rows("val_loss", [1, 2, 3, 4, 5]))  # off
