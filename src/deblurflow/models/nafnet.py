"""NAFNet-style U-Net generator (Chen et al., "Simple Baselines for Image Restoration", 2022).

Written from the paper's description: every block is LayerNorm -> 1x1 conv -> 3x3 depthwise conv
-> SimpleGate -> simplified channel attention -> 1x1 conv, then LayerNorm -> 1x1 conv ->
SimpleGate -> 1x1 conv, each branch added back with a learned per-channel scale that starts at
zero. No nonlinear activation anywhere: SimpleGate (split the channels in two halves and
multiply them) takes its place. Down-sampling is a 2x2 stride-2 conv that doubles the width,
up-sampling a 1x1 conv + PixelShuffle that halves it; skips are added, not concatenated; the
output is added to the input (global residual).

Images inside the network are float NCHW in [-1, 1]. Any H, W >= 1 works: the input is padded
(reflection) to a multiple of 2**levels inside ``forward`` and the output cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deblurflow.params import ModelParams


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel of an NCHW tensor (per-channel affine)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch's fused layer_norm on the channels-last view: one kernel instead of five.
        y = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class SimpleGate(nn.Module):
    """(N, 2C, H, W) -> (N, C, H, W): first half of the channels times the second half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """Nonlinear-activation-free block: a spatial branch and a channel (FFN) branch."""

    def __init__(self, c: int, expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = c * expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.dwconv = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        # Simplified channel attention: global average -> 1x1 conv -> scale (no ReLU/sigmoid).
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv2 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        ffn = c * ffn_expand
        self.conv3 = nn.Conv2d(c, ffn, 1)
        self.conv4 = nn.Conv2d(ffn // 2, c, 1)
        # Learned branch scales start at zero: every block starts as the identity.
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gate(self.dwconv(self.conv1(self.norm1(x))))  # (N, dw/2, H, W)
        y = self.conv2(y * self.sca(y))
        x = x + self.beta * y
        z = self.conv4(self.gate(self.conv3(self.norm2(x))))
        return x + self.gamma * z


class NAFNetGenerator(nn.Module):
    """Blurred (N, 3, H, W) -> sharp (N, 3, H, W), both in [-1, 1]; any H, W."""

    def __init__(
        self,
        width: int = 16,
        enc_blocks: tuple[int, ...] = (1, 1, 1),
        middle_blocks: int = 1,
        dec_blocks: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        dec_blocks = tuple(enc_blocks) if dec_blocks is None else tuple(dec_blocks)
        if len(dec_blocks) != len(enc_blocks):
            raise ValueError(
                f"NAFNet needs as many decoder levels as encoder levels, got {len(enc_blocks)} "
                f"and {len(dec_blocks)}"
            )
        self.multiple = 2 ** len(enc_blocks)
        self.intro = nn.Conv2d(3, width, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(middle_blocks)])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in reversed(dec_blocks):  # listed top level first, built from the bottom up
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
        self.ending = nn.Conv2d(width, 3, 3, padding=1)
        # A zero last conv makes the untrained generator the identity (input + 0), so a short
        # CPU budget starts at the blurred baseline instead of at noise (the paper does not).
        nn.init.zeros_(self.ending.weight)
        nn.init.zeros_(self.ending.bias)

    @classmethod
    def from_params(cls, model: ModelParams) -> NAFNetGenerator:
        return cls(model.channels, model.enc_blocks, model.middle_blocks, model.dec_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"generator expects (N, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        mode = "reflect" if ph < h and pw < w else "replicate"
        inp = F.pad(x, (0, pw, 0, ph), mode=mode) if ph or pw else x
        y = self.intro(inp)  # (N, width, H', W')
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            y = encoder(y)
            skips.append(y)
            y = down(y)  # half the size, twice the width
        y = self.middle(y)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
            y = decoder(up(y) + skip)
        y = self.ending(y) + inp  # global residual: the net predicts the correction
        return y[..., :h, :w].clamp(-1.0, 1.0)
