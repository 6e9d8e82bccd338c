"""GAN losses of DeblurGAN-style training, written out: BCE-with-logits adversarial + λ·pixel.

Pixel terms (``train.pixel_loss``): L1 (the seeds), MSE, Charbonnier (a smooth L1,
sqrt(d² + ε²)) and PSNR (NAFNet's loss: the negative mean PSNR of the batch, in dB / 10 so its
scale is near L1's). An optional frequency term (``train.lambda_fft``) is the L1 distance of
the 2-D real FFTs (MIMO-UNet, Cho et al. 2021): blur removes high frequencies, and this term
weighs every frequency equally however little energy it carries.

SSIM (``train.lambda_ssim``, Hacettepe) adds 1 - SSIM with skimage's Gaussian window; the VGG
perceptual term (``train.lambda_perceptual``) lives in ``perceptual.py``. ``build_losses`` turns
the params into one ``GanLosses`` object, built once, that the training step calls.

The discriminator returns raw patch scores; ``train.adversarial`` picks how they are read:
``bce`` (the seeds: ``binary_cross_entropy_with_logits``, never a Sigmoid followed by
BCEWithLogits, the seeds' double-sigmoid bug), ``lsgan`` (least squares, Mao et al. 2017),
``wgan_gp`` (Wasserstein critic + gradient penalty, Gulrajani et al. 2017; DeblurGAN) and
``ragan_ls`` (relativistic average least squares; DeblurGAN-v2).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .metrics import ssim_torch

if TYPE_CHECKING:
    from .params import Params
    from .runtime import Runtime

ADVERSARIAL = ("bce", "lsgan", "wgan_gp", "ragan_ls")


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "bce"
) -> torch.Tensor:
    """The D (critic) loss on D(sharp) and D(G(blur).detach()), averaged over patches.

    bce: (BCE(real, 1) + BCE(fake, 0)) / 2; lsgan: ((real - 1)² + fake²) / 2;
    wgan_gp: fake - real (add ``gradient_penalty``); ragan_ls: ((real - E fake - 1)² +
    (fake - E real + 1)²) / 2.
    """
    real, fake = real_logits, fake_logits
    if kind == "bce":
        r = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
        f = F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        return (r + f) / 2
    if kind == "lsgan":
        return ((real - 1).square().mean() + fake.square().mean()) / 2
    if kind == "wgan_gp":
        return fake.mean() - real.mean()
    if kind == "ragan_ls":
        r = (real - fake.mean() - 1).square().mean()
        f = (fake - real.mean() + 1).square().mean()
        return (r + f) / 2
    raise ValueError(f"unknown adversarial loss {kind!r}; known: {', '.join(ADVERSARIAL)}")


def adversarial_loss(
    fake_logits: torch.Tensor, kind: str = "bce", real_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """The generator's adversarial term on D(G(blur)) (ragan_ls also needs D(sharp)).

    bce: BCE(fake, 1); lsgan: (fake - 1)²; wgan_gp: -fake; ragan_ls: ((real - E fake + 1)² +
    (fake - E real - 1)²) / 2.
    """
    fake = fake_logits
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "lsgan":
        return (fake - 1).square().mean()
    if kind == "wgan_gp":
        return -fake.mean()
    if kind == "ragan_ls":
        if real_logits is None:
            raise ValueError("ragan_ls needs the discriminator's scores of the sharp images")
        r = (real_logits - fake.mean() + 1).square().mean()
        f = (fake - real_logits.mean() - 1).square().mean()
        return (r + f) / 2
    raise ValueError(f"unknown adversarial loss {kind!r}; known: {', '.join(ADVERSARIAL)}")


def gradient_penalty(
    D: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP: mean over images of (‖∇x̂ Σ D(x̂)‖₂ − 1)², x̂ = ε·real + (1 − ε)·fake.

    ``eps`` (B, 1, 1, 1) defaults to uniform draws; the gradient of the summed patch scores
    (as DeblurGAN) keeps its graph so the penalty trains D.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).float().sum(), x, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)  # (B,)
    return (norm - 1).square().mean()


CHARBONNIER_EPS = 1e-3  #: ε of the Charbonnier loss, on the [-1, 1] scale


def charbonnier_loss(x: torch.Tensor, y: torch.Tensor, eps: float = CHARBONNIER_EPS):
    """mean(sqrt((x - y)² + ε²)): L1 away from zero, quadratic (smooth) within ε of it."""
    return torch.sqrt((x - y).square() + eps * eps).mean()


def psnr_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-mean over images of PSNR/10 for images in [-1, 1] (peak-to-peak 2), in dB/10."""
    mse = (x - y).square().mean(dim=tuple(range(1, x.ndim)))  # (B,)
    return -(10.0 * torch.log10(4.0 / (mse + 1e-10))).mean() / 10.0


def ssim_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - mean SSIM of images in [-1, 1] (H, W >= 11), differentiable.

    SSIM with skimage's Gaussian window (σ 1.5, 11 taps), population covariance, data range 1
    on (x + 1) / 2: scaling both images and the data range together leaves SSIM unchanged, so
    the [0, 255] metric of ``metrics.ssim_torch`` is reused, in float32.
    """
    return 1.0 - ssim_torch((y + 1) * 127.5, (x + 1) * 127.5, dtype=torch.float32).mean()


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


@dataclass(frozen=True)
class GanLosses:
    """The GAN losses built once from params (``build_losses``): what the training step calls.

    ``content`` = the generator's terms that need no network (``pix`` always; ``fft`` and
    ``ssim`` when weighted > 0) and their weighted sum ``total``, also the validation loss;
    ``generator`` adds the adversarial term (and the perceptual one); ``discriminator`` is the
    D (critic) loss, with WGAN-GP's gradient penalty.
    """

    lambda_pix: float = 100.0
    pixel: str = "l1"  #: ``PIXEL_LOSSES`` key
    lambda_adv: float = 1.0
    adversarial: str = "bce"  #: ``ADVERSARIAL`` name
    gp_weight: float = 10.0  #: wgan_gp: weight of the gradient penalty
    lambda_fft: float = 0.0
    lambda_ssim: float = 0.0
    lambda_perceptual: float = 0.0
    #: (fake, sharp) -> VGG feature MSE, e.g. ``perceptual.PerceptualLoss``; needed when
    #: ``lambda_perceptual`` > 0
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    #: the precision the perceptual network runs in (``Runtime.autocast``); the MSE stays fp32
    autocast: Callable[[], AbstractContextManager] = nullcontext

    def __post_init__(self) -> None:
        if self.lambda_perceptual > 0 and self.perceptual is None:
            raise ValueError("lambda_perceptual > 0 needs a perceptual loss module")

    @property
    def needs_real_logits(self) -> bool:
        """The relativistic loss compares with D(sharp) in the G step too."""
        return self.adversarial == "ragan_ls"

    def content(self, fake: torch.Tensor, sharp: torch.Tensor) -> dict[str, torch.Tensor]:
        """``pix``, ``fft``, ``ssim`` (each only when weighted > 0, ``pix`` always), ``total``."""
        out = {"pix": PIXEL_LOSSES[self.pixel](fake, sharp)}
        total = self.lambda_pix * out["pix"]
        if self.lambda_fft > 0:
            out["fft"] = fft_loss(fake, sharp)
            total = total + self.lambda_fft * out["fft"]
        if self.lambda_ssim > 0:
            out["ssim"] = ssim_loss(fake, sharp)
            total = total + self.lambda_ssim * out["ssim"]
        out["total"] = total
        return out

    def generator(
        self,
        fake_logits: torch.Tensor,
        fake: torch.Tensor,
        sharp: torch.Tensor,
        real_logits: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Named generator terms: ``adv`` (default BCE(D(G(blur)), 1)), the content terms and
        ``perceptual`` (when weighted > 0); ``total`` = lambda_adv·adv + lambda_pix·pix + the
        weighted rest. Images in [-1, 1]; ``real_logits`` = D(sharp) for ragan_ls."""
        out = self.content(fake, sharp)
        out["adv"] = adversarial_loss(fake_logits, self.adversarial, real_logits)
        out["total"] = out["total"] + self.lambda_adv * out["adv"]
        if self.lambda_perceptual > 0:
            with self.autocast():  # VGG features in the run's precision, the MSE in fp32
                out["perceptual"] = self.perceptual(fake, sharp).float()
            out["total"] = out["total"] + self.lambda_perceptual * out["perceptual"]
        return out

    def discriminator(
        self,
        D: Callable[[torch.Tensor], torch.Tensor],
        real_logits: torch.Tensor,
        fake_logits: torch.Tensor,
        sharp: torch.Tensor,
        fake: torch.Tensor,
    ) -> torch.Tensor:
        """The D loss on D(sharp), D(fake) (fake detached); wgan_gp adds the penalty on D."""
        loss = discriminator_loss(real_logits, fake_logits, self.adversarial)
        if self.adversarial == "wgan_gp":
            loss = loss + self.gp_weight * gradient_penalty(D, sharp, fake)
        return loss


def build_losses(params: Params, runtime: Runtime | None = None) -> GanLosses:
    """The losses of ``params`` (``lambda_pix`` and the ``train`` section), built once; the VGG
    network of the perceptual term is loaded and placed on ``runtime``'s device here."""
    tp = params.train
    perceptual = None
    if tp.lambda_perceptual > 0:
        from .perceptual import PerceptualLoss  # torchvision's VGG: only when it is used

        perceptual = PerceptualLoss(tp.perceptual_layer, tp.perceptual_weights == "imagenet")
        perceptual = runtime.place(perceptual) if runtime is not None else perceptual
    return GanLosses(
        lambda_pix=params.lambda_pix, pixel=tp.pixel_loss, lambda_adv=tp.lambda_adv,
        adversarial=tp.adversarial, gp_weight=tp.gp_weight, lambda_fft=tp.lambda_fft,
        lambda_ssim=tp.lambda_ssim, lambda_perceptual=tp.lambda_perceptual,
        perceptual=perceptual, autocast=runtime.autocast if runtime is not None else nullcontext,
    )  # fmt: skip
