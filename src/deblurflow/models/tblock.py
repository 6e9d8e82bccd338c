"""The Hacettepe "t-block" generator (seed 002, Gençaslan), as its Listing 1 (§3.2.1) gives it.

With ``c`` = ``model.channels`` (published 64; every width below is the listing's at c = 64)::

    l1  = ReLU(BN(conv3x3 3 -> c/2))                      l2 = ReLU(BN(conv3x3 c/2 -> c))
    t1(x) = x + maxpool3x3(x)                             (no parameters)
    t2(x) = cat(conv3x3_k(bottleneck1x1(x)) for k = 1..4)  c -> c/2 -> 4 x c/4 = c, no activation
    t4(x) = ReLU(cat(x, maxpool3x3(x)))                   (no parameters; doubles the width)

    l3 = t1(l2)                 l4 = t2(l3)                l5 = t4(l4)
    l6 = t3_reduce_l6(cat(l5, l4))       3x3, 3c -> c
    l7 = t2(l6)
    l8 = t3_reduce_l8_l9(cat(l7, l3))    3x3, 2c -> c   } ONE module at both sites
    l9 = t3_reduce_l8_l9(cat(l8, l2))    3x3, 2c -> c   }
    l10 = t2(l9)                                          ONE t2 module at l4, l7 and l10
    l11 = t3_reduce_l11(cat(l10, l1))    3x3, 3c/2 -> c/2
    l12 = t1(l11)
    out = tanh(final_conv3x3(l12)) + x                    c/2 -> 3

253,155 parameters at c = 64 (tests/test_models.py writes the sum out). Stride 1 throughout,
so any H, W works; max-pools are 3x3, stride 1, padding 1 (the listing's ``maxpool_t1_t4``).

How we read where the listing contradicts itself:

- ``__init__`` names the reductions ``t3_reduce_16``, ``t3_reduce_18_19`` and ``t3_reduce_111``
  while ``forward`` calls ``t3_reduce_16``, ``t3_reduce_l8_l9`` and ``t3_reduce_l11`` and the prose
  says ``t3_reduce_l6``: one name each, the "1" a rendering of "l" (l6, l8_l9, l11). Their
  in/out widths (192 -> 64, 128 -> 64, 96 -> 32) fit exactly the concatenations forward feeds them.
- ``t1``, ``t2`` and ``t4`` are indented inside ``__init__`` (they would be local functions that
  ``forward`` could not call): read as methods, as the prose (§3.2.1, "the t1 block ... defined by
  the t1(self, x) method") says.
- The reductions are bare 3x3 convs (no BatchNorm, no ReLU), as listed, although the prose calls
  them "t3" blocks; the bottleneck and the t2 convs have no activation either.
- The listing has no clamp: ``tanh + x`` spans [-2, 2]. Training sees that sum as published; in
  eval mode (validation, predict, export) it is clamped to the image range [-1, 1], which any
  conversion to pixels does anyway.
- No weight initialisation is given: PyTorch's default, as the listing would run (so, unlike our
  other generators, the untrained t-block is not the identity).
"""

from __future__ import annotations

import torch
from torch import nn

from deblurflow.params import ModelParams


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class T2(nn.Module):
    """The listing's t2: 1x1 bottleneck c -> c/2, four parallel 3x3 convs c/2 -> c/4, concat."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bottleneck = nn.Conv2d(c, c // 2, 1)
        self.convs = nn.ModuleList(nn.Conv2d(c // 2, c // 4, 3, padding=1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x)  # (N, c/2, H, W)
        return torch.cat([conv(b) for conv in self.convs], dim=1)  # (N, c, H, W)


class TBlockGenerator(nn.Module):
    """Blurred (N, 3, H, W) -> sharp (N, 3, H, W) in [-1, 1] (eval mode); any H, W."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        c = channels
        if c % 4:
            raise ValueError(f"tblock channels must be a multiple of 4, got {c}")
        self.l1 = _conv_bn_relu(3, c // 2)
        self.l2 = _conv_bn_relu(c // 2, c)
        self.maxpool_t1_t4 = nn.MaxPool2d(3, stride=1, padding=1)
        self.t2 = T2(c)  # one module, run at l4, l7 and l10
        self.t3_reduce_l6 = nn.Conv2d(3 * c, c, 3, padding=1)
        self.t3_reduce_l8_l9 = nn.Conv2d(2 * c, c, 3, padding=1)  # one module, run at l8 and l9
        self.t3_reduce_l11 = nn.Conv2d(c + c // 2, c // 2, 3, padding=1)
        self.final_conv = nn.Conv2d(c // 2, 3, 3, padding=1)

    @classmethod
    def from_params(cls, model: ModelParams) -> TBlockGenerator:
        return cls(model.channels)

    def t1(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.maxpool_t1_t4(x)

    def t4(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.cat([x, self.maxpool_t1_t4(x)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"generator expects (N, 3, H, W), got {tuple(x.shape)}")
        l1 = self.l1(x)  # (N, c/2, H, W)
        l2 = self.l2(l1)  # (N, c, H, W)
        l3 = self.t1(l2)
        l4 = self.t2(l3)  # t2, site 1
        l5 = self.t4(l4)  # (N, 2c, H, W)
        l6 = self.t3_reduce_l6(torch.cat([l5, l4], dim=1))  # 3c -> c
        l7 = self.t2(l6)  # t2, site 2
        l8 = self.t3_reduce_l8_l9(torch.cat([l7, l3], dim=1))  # 2c -> c
        l9 = self.t3_reduce_l8_l9(torch.cat([l8, l2], dim=1))  # the same module again
        l10 = self.t2(l9)  # t2, site 3
        l11 = self.t3_reduce_l11(torch.cat([l10, l1], dim=1))  # 3c/2 -> c/2
        l12 = self.t1(l11)
        out = torch.tanh(self.final_conv(l12)) + x  # (N, 3, H, W), in [-2, 2] as published
        return out if self.training else out.clamp(-1.0, 1.0)
