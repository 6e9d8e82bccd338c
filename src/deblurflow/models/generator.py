"""ResNet generator (DeblurGAN, Kupyn et al. 2018): downsample x4, residual blocks, upsample.

Images inside the network are float NCHW in [-1, 1]. H and W must be multiples of 4 because of
the two stride-2 convolutions and the two stride-2 transposed convolutions that undo them, and at
least 8; pad whole frames first (``deblurflow.inference.pad_to_multiple``).
"""

from __future__ import annotations

import torch
from torch import nn

from deblurflow.params import ModelParams

MULTIPLE = 4  #: H and W of the generator's input must be multiples of this
MIN_SIZE = 8  #: and at least this (reflection padding needs 2x2 maps at 1/4 resolution)


class ResidualBlock(nn.Module):
    """3x3 conv, norm, ReLU, 3x3 conv, norm, plus the input (reflection padding, fixed width)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        # bias=True with a non-affine InstanceNorm is redundant but is what DeblurGAN does;
        # keeping it keeps parameter counts and checkpoints comparable with the seeds.
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    """Blurred (N, 3, H, W) -> sharp (N, 3, H, W), both in [-1, 1]; H, W multiples of 4, >= 8."""

    def __init__(self, channels: int = 64, res_blocks: int = 6, global_residual: bool = True):
        super().__init__()
        c = channels
        self.global_residual = global_residual
        self.head = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, c, 7),
            nn.InstanceNorm2d(c),
            nn.ReLU(inplace=True),
        )
        self.down = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
            nn.InstanceNorm2d(2 * c),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1),
            nn.InstanceNorm2d(4 * c),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*[ResidualBlock(4 * c) for _ in range(res_blocks)])
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * c, 2 * c, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(2 * c),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(c),
            nn.ReLU(inplace=True),
        )
        self.tail = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7))
        if global_residual:
            # A zero last conv makes the untrained generator the identity (input + tanh(0)), so
            # training starts at the blurred baseline instead of at noise and can only improve.
            last = self.tail[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    @classmethod
    def from_params(cls, model: ModelParams) -> ResNetGenerator:
        return cls(model.channels, model.res_blocks, model.global_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"generator expects (N, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % MULTIPLE or w % MULTIPLE or h < MIN_SIZE or w < MIN_SIZE:
            raise ValueError(
                f"generator input H and W must be multiples of {MULTIPLE} and at least "
                f"{MIN_SIZE}, got {h}x{w} "
                "(pad first, e.g. deblurflow.inference.pad_to_multiple)"
            )
        y = self.tail(self.up(self.blocks(self.down(self.head(x)))))  # (N, 3, H, W)
        y = torch.tanh(y)
        if self.global_residual:
            # The network predicts the correction; clamp keeps the sum a valid image.
            return torch.clamp(x + y, -1.0, 1.0)
        return y
