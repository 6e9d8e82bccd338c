"""ResNet generator (DeblurGAN, Kupyn et al. 2018): downsample x4, residual blocks, upsample.

The seed papers' variants are options: ``norm`` (InstanceNorm as DeblurGAN, BatchNorm as HUST
and HKUST, or none), ``upsample`` (3x3 transposed convs with output padding as DeblurGAN, 4x4
stride-2 pad-1 transposed convs as HUST, or bilinear x2 + 3x3 conv), ``dropout`` in the residual
blocks (HKUST: 0.5), ``res_blocks`` (6 or 9) and ``global_residual``.

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


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``instance``: non-affine InstanceNorm (DeblurGAN, no parameters); ``batch``: BatchNorm
    (2 parameters per channel); ``none``: identity."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; known: batch, instance, none")


def up_layer(kind: str, cin: int, cout: int) -> nn.Module:
    """x2 up-sampling from ``cin`` to ``cout`` channels."""
    if kind == "transposed3":
        return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
    if kind == "transposed4":
        return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
    if kind == "bilinear":
        # Resize-then-conv: no checkerboard artefacts of transposed convs (Odena et al. 2016).
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(cin, cout, 3, padding=1),
        )
    raise ValueError(f"unknown upsample {kind!r}; known: transposed3, transposed4, bilinear")


class ResidualBlock(nn.Module):
    """3x3 conv, norm, ReLU, [dropout], 3x3 conv, norm, plus the input (reflection padding)."""

    def __init__(self, channels: int, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        # bias=True with a norm after it is redundant but is what DeblurGAN does; keeping it
        # keeps parameter counts and checkpoints comparable with the seeds.
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm_layer(norm, channels),
            nn.ReLU(inplace=True),
            *drop,
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    """Blurred (N, 3, H, W) -> sharp (N, 3, H, W), both in [-1, 1]; H, W multiples of 4, >= 8."""

    def __init__(
        self,
        channels: int = 64,
        res_blocks: int = 6,
        global_residual: bool = True,
        norm: str = "instance",
        upsample: str = "transposed3",
        dropout: float = 0.0,
    ):
        super().__init__()
        c = channels
        self.global_residual = global_residual
        self.head = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, c, 7),
            norm_layer(norm, c),
            nn.ReLU(inplace=True),
        )
        self.down = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
            norm_layer(norm, 2 * c),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1),
            norm_layer(norm, 4 * c),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(
            *[ResidualBlock(4 * c, norm, dropout) for _ in range(res_blocks)]
        )
        self.up = nn.Sequential(
            up_layer(upsample, 4 * c, 2 * c),
            norm_layer(norm, 2 * c),
            nn.ReLU(inplace=True),
            up_layer(upsample, 2 * c, c),
            norm_layer(norm, c),
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
        return cls(
            model.channels, model.res_blocks, model.global_residual,
            model.norm, model.upsample, model.dropout,
        )  # fmt: skip

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
