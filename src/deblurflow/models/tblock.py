"""The Hacettepe "t-block" generator (seed 002): full resolution, shared t-block weights.

Its listing, with ``c`` = ``model.channels`` (published 64):

- l1 = conv3x3 3 -> c/2, BN, ReLU;  l2 = conv3x3 c/2 -> c, BN, ReLU
- t1(x) = x + maxpool3x3(x)                                   (no parameters)
- t2(x) = 1x1 bottleneck c -> c/2, ReLU, then four parallel conv3x3 c/2 -> c/4 (+ ReLU),
  concatenated back to c. ONE t2 module is called at all three of its sites.
- t4(x) = ReLU(cat(x, maxpool3x3(x)))                         (no parameters; doubles width)
- t3 reductions = 1x1 conv, BN, ReLU: 3c -> c (after the three t-blocks), 2c -> c
  (``t3_reduce_l8_l9``: ONE module at both of its sites) and 3c/2 -> c/2 (the skip from l1)
- out = conv3x3 c/2 -> 3, tanh, plus the input (global residual), clamped to [-1, 1].

Wiring (where the listing leaves it open, our choice, documented in the README)::

    x1 = l1(x); x2 = l2(x1)
    a = t2(t1(x2)); b = t2(t1(a)); c3 = t2(t1(b))            # l3..l6, shared t2
    l7 = t3_reduce_l7(cat(a, b, c3))                          # 3c -> c
    l8 = t3_reduce_l8_l9(t4(l7)); l9 = t3_reduce_l8_l9(t4(l8))  # shared, 2c -> c
    l10 = t3_reduce_l10(cat(l9, x1))                          # 3c/2 -> c/2
    y = x + tanh(conv3x3(l10))

Stride 1 throughout: any H, W works. Max-pools are 3x3, stride 1, padding 1 (size kept).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deblurflow.params import ModelParams


def _conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _maxpool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


class T2(nn.Module):
    """1x1 bottleneck c -> c/2, then four parallel 3x3 convs c/2 -> c/4, concatenated (c)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(c, c // 2, 1), nn.ReLU(inplace=True))
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c // 2, c // 4, 3, padding=1), nn.ReLU(inplace=True))
            for _ in range(4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reduce(x)
        return torch.cat([branch(r) for branch in self.branches], dim=1)


class TBlockGenerator(nn.Module):
    """Blurred (N, 3, H, W) -> sharp (N, 3, H, W), both in [-1, 1]; any H, W."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        c = channels
        if c % 4:
            raise ValueError(f"tblock channels must be a multiple of 4, got {c}")
        self.l1 = _conv_bn_relu(3, c // 2, 3)
        self.l2 = _conv_bn_relu(c // 2, c, 3)
        self.t2 = T2(c)  # shared by the three t-block sites
        self.t3_reduce_l7 = _conv_bn_relu(3 * c, c, 1)
        self.t3_reduce_l8_l9 = _conv_bn_relu(2 * c, c, 1)  # shared by l8 and l9
        self.t3_reduce_l10 = _conv_bn_relu(c + c // 2, c // 2, 1)
        self.out = nn.Conv2d(c // 2, 3, 3, padding=1)
        # As the ResNet's: a zero last conv starts training at the identity (the blurred input).
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @classmethod
    def from_params(cls, model: ModelParams) -> TBlockGenerator:
        return cls(model.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"generator expects (N, 3, H, W), got {tuple(x.shape)}")
        x1 = self.l1(x)  # (N, c/2, H, W)
        x2 = self.l2(x1)  # (N, c, H, W)
        a = self.t2(x2 + _maxpool(x2))  # t1 then t2, site 1
        b = self.t2(a + _maxpool(a))  # site 2, same weights
        c3 = self.t2(b + _maxpool(b))  # site 3, same weights
        h = self.t3_reduce_l7(torch.cat([a, b, c3], dim=1))  # (N, c, H, W)
        for _ in range(2):  # l8, l9: t4 then the shared reduction
            h = self.t3_reduce_l8_l9(F.relu(torch.cat([h, _maxpool(h)], dim=1)))
        h = self.t3_reduce_l10(torch.cat([h, x1], dim=1))  # (N, c/2, H, W)
        return torch.clamp(x + torch.tanh(self.out(h)), -1.0, 1.0)
