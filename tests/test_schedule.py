"""Learning-rate schedule: warm-up and cosine values by hand; the loop applies them per step."""

from __future__ import annotations

import math

import pytest

from deblurflow.params import TrainParams
from deblurflow.training.schedule import lr_factor


def test_constant_is_one_everywhere():
    tp = TrainParams()
    assert [lr_factor(tp, s, 10) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]


def test_warmup_then_constant():
    tp = TrainParams(warmup_steps=4)
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
