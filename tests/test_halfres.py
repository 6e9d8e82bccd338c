"""Half-resolution residual generator: size by hand, pixel layout, batch independence (the shared
generator contract is in test_generator_contract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from deblurflow.models import (
    HalfResGenerator,
    build_generator,
)
from deblurflow.params import ModelParams, load_params, parse_params
from deblurflow.tiling import required_multiple

HALF = ModelParams(generator="halfres", channels=8, res_blocks=2, d_channels=8)


def _net_params(width: int, blocks: int) -> int:
    head = 12 * width * 9 + width  # 3x3 conv 12 -> width
    block = 2 * (width * width * 9 + width)  # two 3x3 convs width -> width
    tail = width * 12 * 9 + 12  # 3x3 conv width -> 12
    return head + blocks * block + tail


@pytest.mark.parametrize("width,blocks", [(64, 4), (8, 2), (16, 0)])
def test_parameter_count_by_hand(width, blocks):
    g = HalfResGenerator(width, blocks)
    assert sum(p.numel() for p in g.parameters()) == _net_params(width, blocks)


def test_the_shipped_size_is_1_35m_and_the_default_124k():
    from deblurflow.models import load_generator

    # shipped 96x8: 10,464 head + 8 x 166,080 blocks + 10,380 tail
    assert _net_params(96, 8) == 1_349_484
    shipped, _ = load_generator(
        Path(__file__).resolve().parents[1] / "models/pretrained/deblurflow.pt"
    )
    assert sum(p.numel() for p in shipped.parameters()) == 1_349_484
    # the demo's default (params.yaml) 40x4: 4,360 head + 4 x 28,880 blocks + 4,332 tail
    model = load_params(Path(__file__).resolve().parents[1] / "params.yaml").model
    g = HalfResGenerator.from_params(model)
    assert sum(p.numel() for p in g.parameters()) == _net_params(40, 4) == 124_212


def test_each_output_pixel_gets_its_own_correction_channels():
    # Tail channel k of half-res pixel (i, j) lands on full-res pixel
    # (2i + (k % 4) // 2, 2j + k % 2) of colour k // 4 (torch's pixel_shuffle layout).
    g = HalfResGenerator(4, 0)
    with torch.no_grad():
        g.tail.weight.zero_()
        g.tail.bias.zero_()
        g.tail.bias[7] = 0.5  # colour 1, sub-pixel (1, 1)
    x = torch.zeros(1, 3, 4, 6)
    y = g(x)
    expected = torch.zeros_like(x)
    expected[0, 1, 1::2, 1::2] = 0.5
    torch.testing.assert_close(y, expected)


def test_batch_items_are_independent_and_odd_sizes_pad_by_reflection():
    torch.manual_seed(0)
    g = build_generator(HALF)
    with torch.no_grad():
        g.tail.weight.normal_(0, 0.1)
    x = torch.rand(3, 3, 21, 30) * 2 - 1
    torch.testing.assert_close(g(x)[1:2], g(x[1:2]))
    # An odd height is padded with the reflected row, then cropped back.
    padded = F.pad(x, (0, 0, 0, 1), mode="reflect")
    torch.testing.assert_close(g(x), g(padded)[..., :21, :])
    assert required_multiple(g) == 4  # lcm of the pipeline's 4 and its own 2


def test_params_build_it_and_odd_tiny_frames_work():
    p = parse_params({"model": {"generator": "halfres", "channels": 8, "res_blocks": 3}})
    g = build_generator(p.model)
    assert isinstance(g, HalfResGenerator) and len(g.body) == 3
    x = torch.rand(1, 3, 1, 3) * 2 - 1  # 1 px high: replicate padding, not reflection
    assert torch.equal(g(x), x)
