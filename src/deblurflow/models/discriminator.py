"""PatchGAN discriminator (pix2pix / DeblurGAN): one real/fake logit per overlapping patch.

The output is raw logits, meant for ``binary_cross_entropy_with_logits``. The seed code put a
Sigmoid before BCEWithLogitsLoss, squashing twice; there is deliberately no Sigmoid here.
"""

from __future__ import annotations

import torch
from torch import nn

from deblurflow.models.generator import norm_layer
from deblurflow.params import ModelParams


class PatchGANDiscriminator(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, 1, h, w) patch logits; 256x256 -> 30x30 at layers=3."""

    def __init__(self, channels: int = 64, layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"PatchGAN needs layers >= 1, got {layers}")
        c = channels
        # First conv has no norm (pix2pix); convs before a BatchNorm have no bias since its
        # shift replaces it. InstanceNorm is non-affine (pix2pix), so those convs keep a bias;
        # it or no norm is what a WGAN-GP critic needs (BatchNorm mixes the samples whose
        # gradient the penalty constrains one by one, Gulrajani et al. 2017).
        bias = norm != "batch"
        seq: list[nn.Module] = [
            nn.Conv2d(3, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = c
        for n in range(1, layers):
            out = c * min(2**n, 8)
            seq += [
                nn.Conv2d(width, out, 4, stride=2, padding=1, bias=bias),
                norm_layer(norm, out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = out
        out = c * min(2**layers, 8)
        seq += [
            nn.Conv2d(width, out, 4, stride=1, padding=1, bias=bias),
            norm_layer(norm, out),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out, 1, 4, stride=1, padding=1),
        ]
        self.net = nn.Sequential(*seq)

    @classmethod
    def from_params(cls, model: ModelParams) -> PatchGANDiscriminator:
        return cls(model.d_channels, model.d_layers, model.d_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, 1, h, w) logits
