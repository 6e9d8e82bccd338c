"""Half-resolution residual CNN: the generator that learns most per CPU minute here.

Pixel-unshuffle by 2 (each 2x2 block of the RGB input becomes 12 channels at half the size),
a 3x3 conv to ``width`` channels, ``blocks`` EDSR-style residual blocks (3x3 conv -> ReLU ->
3x3 conv, added back; no normalisation, so one image of a batch never sees another), a skip
around the body, a 3x3 conv back to 12 channels and pixel-shuffle to full size, added to the
input (global residual). The last conv starts at zero, so the untrained net is the identity.

Why this shape: on a 2-core CPU the step is compute-bound, and a few wide dense 3x3 convs run
far closer to the CPU's peak (oneDNN, bf16 on AMX) than NAFNet's many thin per-pixel ops
(LayerNorm, depthwise conv, gating) at full resolution. At equal CPU time it reached a higher
validation and test PSNR than NAFNet-16 on the sample (BENCHMARKS.md, "Generators at equal
CPU time"). Working at half resolution also doubles every conv's reach in input pixels, which
motion blur of 5-15 px needs.

Images are float NCHW in [-1, 1]; any H, W >= 1 (odd sizes are padded by reflection inside
``forward`` and cropped back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deblurflow.params import ModelParams


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(x))), both 3x3, same width."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class HalfResGenerator(nn.Module):
    """Blurred (N, 3, H, W) -> sharp (N, 3, H, W), both in [-1, 1]; any H, W."""

    multiple = 2  #: the input is padded to even H, W (see tiling.required_multiple)

    def __init__(self, width: int = 64, blocks: int = 4) -> None:
        super().__init__()
        self.head = nn.Conv2d(12, width, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.tail = nn.Conv2d(width, 12, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # start as the identity (input + 0)
        nn.init.zeros_(self.tail.bias)

    @classmethod
    def from_params(cls, model: ModelParams) -> HalfResGenerator:
        return cls(model.channels, model.res_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"generator expects (N, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = h % 2, w % 2
        mode = "reflect" if ph < h and pw < w else "replicate"
        inp = F.pad(x, (0, pw, 0, ph), mode=mode) if ph or pw else x
        y = self.head(F.pixel_unshuffle(inp, 2))  # (N, width, H/2, W/2)
        y = self.tail(self.body(y) + y)  # (N, 12, H/2, W/2)
        out = F.pixel_shuffle(y, 2) + inp
        return out[..., :h, :w].clamp(-1.0, 1.0)
