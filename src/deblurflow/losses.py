"""GAN losses of DeblurGAN-style training, written out: BCE-with-logits adversarial + λ·pixel.

Pixel terms (``train.pixel_loss``): L1 (the seeds), MSE, Charbonnier (a smooth L1,
sqrt(d² + ε²)) and PSNR (NAFNet's loss: the negative mean PSNR of the batch, in dB / 10 so its
scale is near L1's). An optional frequency term (``train.lambda_fft``) is the L1 distance of
the 2-D real FFTs (MIMO-UNet, Cho et al. 2021): blur removes high frequencies, and this term
weighs every frequency equally however little energy it carries.

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


CHARBONNIER_EPS = 1e-3  #: ε of the Charbonnier loss, on the [-1, 1] scale


def charbonnier_loss(x: torch.Tensor, y: torch.Tensor, eps: float = CHARBONNIER_EPS):
    """mean(sqrt((x - y)² + ε²)): L1 away from zero, quadratic (smooth) within ε of it."""
    return torch.sqrt((x - y).square() + eps * eps).mean()


def psnr_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-mean over images of PSNR/10 for images in [-1, 1] (peak-to-peak 2), in dB/10."""
    mse = (x - y).square().mean(dim=tuple(range(1, x.ndim)))  # (B,)
    return -(10.0 * torch.log10(4.0 / (mse + 1e-10))).mean() / 10.0


def fft_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance of the real and imaginary parts of the 2-D FFTs (orthonormal)."""
    fx = torch.fft.rfft2(x.float(), norm="ortho")
    fy = torch.fft.rfft2(y.float(), norm="ortho")
    return F.l1_loss(torch.view_as_real(fx), torch.view_as_real(fy))


#: ``train.pixel_loss`` -> the pixel term, on images in [-1, 1]
PIXEL_LOSSES = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "charbonnier": charbonnier_loss,
    "psnr": psnr_loss,
}


def generator_loss(
    fake_logits: torch.Tensor,
    fake: torch.Tensor,
    sharp: torch.Tensor,
    lambda_adv: float,
    lambda_pix: float,
    pixel: str = "l1",
    lambda_fft: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Named generator terms: ``adv`` = BCE(D(G(blur)), 1), ``pix`` = the pixel term
    (default L1(G(blur), sharp), images in [-1, 1]), ``fft`` (only when lambda_fft > 0),
    ``total`` = lambda_adv·adv + lambda_pix·pix + lambda_fft·fft."""
    adv = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    pix = PIXEL_LOSSES[pixel](fake, sharp)
    out = {"adv": adv, "pix": pix, "total": lambda_adv * adv + lambda_pix * pix}
    if lambda_fft > 0:
        out["fft"] = fft_loss(fake, sharp)
        out["total"] = out["total"] + lambda_fft * out["fft"]
    return out
