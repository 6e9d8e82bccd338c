"""One GAN training step, written out: the D step on a detached fake, then the G step with D
frozen (adversarial + lambda_pix * pixel term [+ FFT, SSIM and perceptual terms]).

The training loop and ``bench/train_step.py`` (timing and FLOP counting) run this same function.
"""

from __future__ import annotations

import torch
from torch import nn

from ..losses import discriminator_loss, generator_loss, gradient_penalty
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
    *,
    adversarial: str = "bce",
    gp_weight: float = 10.0,
    lambda_ssim: float = 0.0,
    perceptual: nn.Module | None = None,
    lambda_perceptual: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Update D then G on one (B, 3, h, w) batch in [-1, 1]; returns the detached losses
    ``g`` (G total), ``d``, ``adv`` and ``pix``, still on the device (no host read).

    ``adversarial`` names the GAN loss (``losses.ADVERSARIAL``); ``wgan_gp`` adds
    ``gp_weight`` times the gradient penalty to the critic loss."""
    if runtime.channels_last:
        blur = blur.contiguous(memory_format=torch.channels_last)
        sharp = sharp.contiguous(memory_format=torch.channels_last)

    # D step: real -> 1, fake (detached, no G gradient) -> 0.
    with runtime.autocast():
        fake = G(blur)
        d_real = D(sharp)
        d_fake = D(fake.detach())
    loss_d = discriminator_loss(d_real.float(), d_fake.float(), adversarial)
    if adversarial == "wgan_gp":
        loss_d = loss_d + gp_weight * gradient_penalty(D, sharp, fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    # G step with D frozen: fool D, stay close to the sharp frame in L1. D's parameters are
    # the same tensors under DDP / compile wrappers, so freezing the wrapper freezes them.
    D.requires_grad_(False)
    with runtime.autocast():
        g_logits = D(fake)
        # The relativistic loss compares with D(sharp) under the current (updated) D.
        real_logits = D(sharp).float() if adversarial == "ragan_ls" else None

    def perceptual_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with runtime.autocast():  # VGG features in the run's precision, the MSE in fp32
            return perceptual(x, y).float()

    losses = generator_loss(
        g_logits.float(), fake.float(), sharp, lambda_adv, lambda_pix, pixel_loss, lambda_fft,
        adversarial=adversarial, real_logits=real_logits, lambda_ssim=lambda_ssim,
        perceptual=perceptual_fn if perceptual is not None else None,
        lambda_perceptual=lambda_perceptual,
    )  # fmt: skip
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
