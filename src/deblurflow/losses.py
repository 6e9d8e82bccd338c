"""GAN losses of DeblurGAN-style training, written out: BCE-with-logits adversarial + λ·L1.

The discriminator returns raw patch logits, so every adversarial term is
``binary_cross_entropy_with_logits`` (never a Sigmoid followed by BCEWithLogits: the seeds'
double-sigmoid bug).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """(BCE(D(sharp), 1) + BCE(D(G(blur).detach()), 0)) / 2, averaged over patches."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return (real + fake) / 2


def generator_loss(
    fake_logits: torch.Tensor,
    fake: torch.Tensor,
    sharp: torch.Tensor,
    lambda_adv: float,
    lambda_pix: float,
) -> dict[str, torch.Tensor]:
    """Named generator terms: ``adv`` = BCE(D(G(blur)), 1), ``pix`` = L1(G(blur), sharp),
    ``total`` = lambda_adv·adv + lambda_pix·pix (images in [-1, 1], so L1 is in that scale)."""
    adv = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    pix = F.l1_loss(fake, sharp)
    return {"adv": adv, "pix": pix, "total": lambda_adv * adv + lambda_pix * pix}
