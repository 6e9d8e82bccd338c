"""NAFNet-style generator: parameter count by hand, padding, levels, bad params (the shared
generator contract is in test_generator_contract.py)."""

from __future__ import annotations

import pytest
import torch

from deblurflow.models import (
    NAFNetGenerator,
    build_generator,
)
from deblurflow.params import ModelParams, ParamsError, parse_params

NAF = ModelParams(generator="nafnet", channels=8, enc_blocks=(1, 2), middle_blocks=1, d_channels=8)


def _block_params(c: int) -> int:
    # norm1 2c | conv1 c->2c | dwconv 3x3 on 2c | SCA 1x1 c->c | conv2 c->c | norm2 2c
    # | conv3 c->2c | conv4 c->c | beta c | gamma c
    return (
        2 * c
        + (2 * c * c + 2 * c)
        + (9 * 2 * c + 2 * c)
        + (c * c + c)
        + (c * c + c)
        + 2 * c
        + (2 * c * c + 2 * c)
        + (c * c + c)
        + 2 * c
    )


def _net_params(width: int, enc: tuple[int, ...], middle: int, dec: tuple[int, ...]) -> int:
    total = 3 * width * 9 + width  # intro 3x3 conv 3 -> width
    c = width
    for n in enc:
        total += n * _block_params(c) + (c * 2 * c * 4 + 2 * c)  # blocks + 2x2 stride-2 down
        c *= 2
    total += middle * _block_params(c)
    for n in reversed(dec):  # dec is listed top level first
        total += c * 2 * c  # 1x1 conv c -> 2c, no bias, then PixelShuffle(2) -> c/2
        c //= 2
        total += n * _block_params(c)
    return total + width * 3 * 9 + 3  # ending 3x3 conv width -> 3


@pytest.mark.parametrize(
    "width,enc,middle,dec",
    [(16, (1, 1, 1), 1, (1, 1, 1)), (8, (1, 2, 4), 3, (1, 1, 1)), (32, (2,), 0, (0,))],
)
def test_parameter_count_by_hand(width, enc, middle, dec):
    g = NAFNetGenerator(width, enc, middle, dec)
    assert sum(p.numel() for p in g.parameters()) == _net_params(width, enc, middle, dec)


def test_block_count_16_is_2320():
    assert _block_params(16) == 7 * 16 * 16 + 33 * 16 == 2320


def test_padding_does_not_leak_between_images():
    # Each image of a batch is processed alone (LayerNorm per pixel, no batch statistics).
    torch.manual_seed(0)
    g = build_generator(NAF)
    with torch.no_grad():
        g.ending.weight.normal_(0, 0.1)
        for block in g.modules():
            if hasattr(block, "beta"):
                block.beta.fill_(0.5)
                block.gamma.fill_(0.5)
    x = torch.rand(3, 3, 20, 28) * 2 - 1
    torch.testing.assert_close(g(x)[1:2], g(x[1:2]), atol=1e-5, rtol=1e-5)


def test_params_build_the_levels():
    p = parse_params({"model": {"generator": "nafnet", "channels": 8, "enc_blocks": [1, 2]}})
    assert p.model.enc_blocks == (1, 2) and p.model.dec_blocks is None
    g = build_generator(p.model)
    assert isinstance(g, NAFNetGenerator)
    assert [len(e) for e in g.encoders] == [1, 2] and [len(d) for d in g.decoders] == [2, 1]


@pytest.mark.parametrize(
    "model,message",
    [
        ({"enc_blocks": [1, "x"]}, "'model.enc_blocks[1]' must be int"),
        ({"enc_blocks": [1, 1], "dec_blocks": [1]}, "'model.dec_blocks' must list as many"),
        ({"enc_blocks": []}, "'model.enc_blocks' must list 1 to 5 levels"),
        ({"generator": "nafnett"}, "'model.generator' must be 'resnet' | 'nafnet'"),
    ],
)
def test_bad_nafnet_params_name_the_key(model, message):
    with pytest.raises(ParamsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_params({"model": model})
