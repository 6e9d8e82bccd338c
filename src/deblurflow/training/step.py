"""One GAN training step, written out: the D step on a detached fake, then the G step with D
frozen (adversarial + lambda_pix * pixel term [+ FFT, SSIM and perceptual terms]).

The training loop and the benchmarks (``bench/train_step.py``: timing and FLOP counting) run
this same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..losses import GanLosses
from ..runtime import Runtime

LOSS_NAMES = ("g", "d", "adv", "pix")


@dataclass
class GanPair:
    """The generator and discriminator as the step runs them (maybe DDP- or compile-wrapped:
    their parameters are the plain models'), and their optimizers."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


def gan_step(
    nets: GanPair,
    blur: torch.Tensor,
    sharp: torch.Tensor,
    losses: GanLosses,
    runtime: Runtime,
) -> dict[str, torch.Tensor]:
    """Update D then G on one (B, 3, h, w) batch in [-1, 1]; returns the detached losses
    ``g`` (G total), ``d``, ``adv`` and ``pix``, still on the device (no host read)."""
    G, D = nets.G, nets.D
    if runtime.channels_last:
        blur = blur.contiguous(memory_format=torch.channels_last)
        sharp = sharp.contiguous(memory_format=torch.channels_last)

    # D step: real -> 1, fake (detached, no G gradient) -> 0.
    with runtime.autocast():
        fake = G(blur)
        d_real = D(sharp)
        d_fake = D(fake.detach())
    loss_d = losses.discriminator(D, d_real.float(), d_fake.float(), sharp, fake)
    nets.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    nets.opt_d.step()

    # G step with D frozen: fool D, stay close to the sharp frame. D's parameters are the
    # same tensors under DDP / compile wrappers, so freezing the wrapper freezes them.
    D.requires_grad_(False)
    with runtime.autocast():
        g_logits = D(fake)
        # The relativistic loss compares with D(sharp) under the current (updated) D.
        real_logits = D(sharp).float() if losses.needs_real_logits else None
    terms = losses.generator(g_logits.float(), fake.float(), sharp, real_logits)
    nets.opt_g.zero_grad(set_to_none=True)
    terms["total"].backward()
    nets.opt_g.step()
    D.requires_grad_(True)
    return {
        "g": terms["total"].detach(),
        "d": loss_d.detach(),
        "adv": terms["adv"].detach(),
        "pix": terms["pix"].detach(),
    }
