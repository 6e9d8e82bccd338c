"""One GAN training step, written out: the D step on a detached fake, then the G step with D
frozen (adversarial + lambda_pix * pixel term [+ lambda_fft * FFT term]).

The training loop and ``bench/train_step.py`` (timing and FLOP counting) run this same function.
"""

from __future__ import annotations

import torch
from torch import nn

from ..losses import discriminator_loss, generator_loss
from ..runtime import Runtime

LOSS_NAMES = ("g", "d", "adv", "pix")


def gan_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    blur: torch.Tensor,
    sharp: torch.Tensor,
    runtime: Runtime,
    lambda_adv: float,
    lambda_pix: float,
    pixel_loss: str = "l1",
    lambda_fft: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Update D then G on one (B, 3, h, w) batch in [-1, 1]; returns the detached losses
    ``g`` (G total), ``d``, ``adv`` and ``pix``, still on the device (no host read)."""
    if runtime.channels_last:
        blur = blur.contiguous(memory_format=torch.channels_last)
        sharp = sharp.contiguous(memory_format=torch.channels_last)

    # D step: real -> 1, fake (detached, no G gradient) -> 0.
    with runtime.autocast():
        fake = G(blur)
        d_real = D(sharp)
        d_fake = D(fake.detach())
    loss_d = discriminator_loss(d_real.float(), d_fake.float())
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    # G step with D frozen: fool D, stay close to the sharp frame in L1. D's parameters are
    # the same tensors under DDP / compile wrappers, so freezing the wrapper freezes them.
    D.requires_grad_(False)
    with runtime.autocast():
        g_logits = D(fake)
    losses = generator_loss(
        g_logits.float(), fake.float(), sharp, lambda_adv, lambda_pix, pixel_loss, lambda_fft
    )
    opt_g.zero_grad(set_to_none=True)
    losses["total"].backward()
    opt_g.step()
    D.requires_grad_(True)
    return {
        "g": losses["total"].detach(),
        "d": loss_d.detach(),
        "adv": losses["adv"].detach(),
        "pix": losses["pix"].detach(),
    }
