"""uint8 <-> tensor conversion, padding and whole-frame deblurring of any size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deblurflow.inference import deblur, pad_to_multiple, to_tensor, to_uint8
from deblurflow.models import ResNetGenerator


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_to_tensor_range_and_layout():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 1] = (0, 255, 51)
    t = to_tensor(rgb)
    assert t.shape == (1, 3, 2, 3) and t.dtype == torch.float32
    assert t[0, :, 0, 1].tolist() == pytest.approx([-1.0, 1.0, 51 / 127.5 - 1])


def test_uint8_round_trip_is_exact_for_every_value():
    rgb = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    rgb[..., 1] = rgb[..., 1][::-1]
    assert np.array_equal(to_uint8(to_tensor(rgb)), rgb)


def test_to_uint8_rounds_and_clamps():
    v = torch.tensor([-2.0, 2.0, 100.4 / 127.5 - 1, 100.6 / 127.5 - 1])
    t = v.view(1, 1, 1, 4).expand(1, 3, 1, 4)
    out = to_uint8(t)
    assert out.shape == (1, 4, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 255, 100, 101]


def test_conversion_input_checks():
    with pytest.raises(ValueError, match="uint8 RGB"):
        to_tensor(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 RGB"):
        to_tensor(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="one image"):
        to_uint8(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize(
    "hw,padded", [((37, 53), (40, 56)), ((64, 64), (64, 64)), ((3, 5), (8, 8))]
)
def test_pad_to_multiple(hw, padded):
    x = torch.arange(hw[0] * hw[1], dtype=torch.float32).view(1, 1, *hw)
    p, h, w = pad_to_multiple(x)
    assert p.shape[-2:] == padded and (h, w) == hw
    assert torch.equal(p[..., :h, :w], x)


def test_padding_reflects():
    x = torch.arange(37 * 53, dtype=torch.float32).view(1, 1, 37, 53)
    p, _, _ = pad_to_multiple(x)
    assert torch.equal(p[..., 37, :53], x[..., 35, :])  # row 37 mirrors row 35
    assert torch.equal(p[..., :37, 55], x[..., :, 49])  # column 55 mirrors column 49


@pytest.mark.parametrize("hw", [(37, 53), (64, 48), (3, 5), (1, 1)])
def test_untrained_global_residual_deblur_returns_input(hw):
    torch.manual_seed(0)
    g = ResNetGenerator(4, 1, global_residual=True)
    rgb = _image(*hw)
    out = deblur(g, rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out, rgb)


def test_deblur_matches_manual_pipeline():
    torch.manual_seed(0)
    g = ResNetGenerator(4, 1, global_residual=False)
    rgb = _image(37, 53, seed=1)
    out = deblur(g, rgb, device="cpu")
    with torch.no_grad():
        x, h, w = pad_to_multiple(to_tensor(rgb))
        expected = to_uint8(g.eval()(x)[..., :h, :w])
    assert out.shape == (37, 53, 3)
    assert np.array_equal(out, expected)


class _Recorder(nn.Module):
    """Identity that records how deblur called it."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[tuple[bool, bool, tuple[int, ...]]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_inference_mode_enabled(), tuple(x.shape)))
        return x * self.scale


def test_deblur_runs_eval_inference_mode_and_restores_training():
    g = _Recorder().train()
    deblur(g, _image(37, 53))
    assert g.calls == [(False, True, (1, 3, 40, 56))]
    assert g.training  # a trainer calling deblur mid-epoch keeps its mode
