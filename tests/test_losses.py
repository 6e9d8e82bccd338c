"""GAN losses against hand computations: BCE(0 logits) = ln 2, L1 of known tensors, λ scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deblurflow.losses import GanLosses, discriminator_loss


def generator_loss(logits, fake, sharp, lambda_adv, lambda_pix, pixel="l1", **kw):
    """The generator terms of ``GanLosses`` built from these weights."""
    real = kw.pop("real_logits", None)
    losses = GanLosses(lambda_pix=lambda_pix, pixel=pixel, lambda_adv=lambda_adv, **kw)
    return losses.generator(logits, fake, sharp, real)


LN2 = math.log(2.0)


def _bce_target_one(z: float) -> float:
    return math.log1p(math.exp(-z))  # -log(sigmoid(z))


@pytest.mark.parametrize("lambda_adv,lambda_pix", [(1.0, 100.0), (0.5, 10.0), (0.0, 1.0)])
def test_generator_loss_by_hand(lambda_adv, lambda_pix):
    logits = torch.zeros(2, 1, 30, 30)
    fake = torch.zeros(2, 3, 8, 8)
    sharp = torch.full((2, 3, 8, 8), 0.5)
    loss = generator_loss(logits, fake, sharp, lambda_adv, lambda_pix)
    assert set(loss) == {"adv", "pix", "total"}
    assert loss["adv"].item() == pytest.approx(LN2, rel=1e-6)
    assert loss["pix"].item() == pytest.approx(0.5, rel=1e-6)
    assert loss["total"].item() == pytest.approx(lambda_adv * LN2 + lambda_pix * 0.5, rel=1e-6)


def test_generator_loss_mixed_values():
    logits = torch.tensor([-2.0, 0.0, 3.0]).view(1, 1, 1, 3)
    fake = torch.tensor([0.0, 1.0, -1.0, 0.25]).view(1, 1, 2, 2)
    sharp = torch.tensor([0.5, 1.0, 1.0, -0.25]).view(1, 1, 2, 2)
    loss = generator_loss(logits, fake, sharp, lambda_adv=1.0, lambda_pix=100.0)
    adv = (_bce_target_one(-2) + _bce_target_one(0) + _bce_target_one(3)) / 3
    pix = (0.5 + 0.0 + 2.0 + 0.5) / 4
    assert loss["adv"].item() == pytest.approx(adv, rel=1e-6)
    assert loss["pix"].item() == pytest.approx(pix, rel=1e-6)
    assert loss["total"].item() == pytest.approx(adv + 100 * pix, rel=1e-6)


def test_doubling_lambda_pix_doubles_pix_contribution():
    torch.manual_seed(0)
    logits, fake, sharp = torch.randn(2, 1, 6, 6), torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    one = generator_loss(logits, fake, sharp, lambda_adv=1.0, lambda_pix=50.0)
    two = generator_loss(logits, fake, sharp, lambda_adv=1.0, lambda_pix=100.0)
    assert torch.equal(one["pix"], two["pix"]) and torch.equal(one["adv"], two["adv"])
    assert (two["total"] - two["adv"]).item() == pytest.approx(
        2 * (one["total"] - one["adv"]).item(), rel=1e-6
    )


def test_generator_loss_gradients_reach_both_inputs():
    logits = torch.zeros(1, 1, 4, 4, requires_grad=True)
    fake = torch.zeros(1, 3, 8, 8, requires_grad=True)
    generator_loss(logits, fake, torch.ones(1, 3, 8, 8), 1.0, 100.0)["total"].backward()
    assert logits.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0


def test_discriminator_loss_values():
    shape = (2, 1, 30, 30)
    zero = torch.zeros(shape)
    big = torch.full(shape, 30.0)
    assert discriminator_loss(zero, zero).item() == pytest.approx(LN2, rel=1e-6)
    # A confident, correct D costs ~0. With the seeds' double sigmoid the loss could never go
    # below log(1 + e^-1) ~ 0.31, however confident D was.
    assert discriminator_loss(big, -big).item() < 1e-8
    # Confident and wrong: BCE ~ |logit| per term.
    assert discriminator_loss(-big, big).item() == pytest.approx(30.0, rel=1e-6)
    # Half right: (0 + ln 2) / 2.
    assert discriminator_loss(big, zero).item() == pytest.approx(LN2 / 2, rel=1e-6)


# --- SSIM, adversarial variants, gradient penalty, perceptual (issue 10) ------------------------


def test_ssim_loss_matches_skimage_and_has_gradients():
    import cv2
    from skimage.metrics import structural_similarity

    from deblurflow.losses import ssim_loss

    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.random((2, 24, 20, 3)).astype(np.float32)[0], (0, 0), 1.0)
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape).astype(np.float32), 0, 1)
    want = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
        channel_axis=-1,
    )  # fmt: skip

    def t(x):  # (H, W, 3) in [0, 1] -> (1, 3, H, W) in [-1, 1]
        return torch.from_numpy(x).permute(2, 0, 1)[None] * 2 - 1

    x = t(b).requires_grad_(True)
    loss = ssim_loss(x, t(a))
    assert 0.05 < want < 0.95  # a real test: neither identical nor unrelated
    assert loss.item() == pytest.approx(1 - want, abs=1e-3)
    assert ssim_loss(t(a), t(a)).item() == pytest.approx(0.0, abs=1e-5)
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_adversarial_losses_by_hand():
    from deblurflow.losses import adversarial_loss

    real = torch.tensor([2.0, 0.0]).view(1, 1, 1, 2)
    fake = torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2)
    # lsgan D: (mean((2-1)², (0-1)²) + mean(1, 1)) / 2 = (1 + 1) / 2; G: mean(4, 0) = 2.
    assert discriminator_loss(real, fake, "lsgan").item() == pytest.approx(1.0)
    assert adversarial_loss(fake, "lsgan").item() == pytest.approx(2.0)
    # wgan: D = E fake - E real = 0 - 1; G = -E fake = 0.
    assert discriminator_loss(real, fake, "wgan_gp").item() == pytest.approx(-1.0)
    assert adversarial_loss(fake, "wgan_gp").item() == pytest.approx(0.0)
    # ragan_ls, E real = 1, E fake = 0. D: mean((2-0-1)², (0-0-1)²) = 1 and
    # mean((-1-1+1)², (1-1+1)²) = 1 -> 1. G: mean((2+1)², (0+1)²) = 5 and
    # mean((-1-1-1)², (1-1-1)²) = 5 -> 5.
    assert discriminator_loss(real, fake, "ragan_ls").item() == pytest.approx(1.0)
    assert adversarial_loss(fake, "ragan_ls", real).item() == pytest.approx(5.0)
    # bce unchanged: G = mean(softplus(1), softplus(-1)).
    want = (_bce_target_one(-1.0) + _bce_target_one(1.0)) / 2
    assert adversarial_loss(fake, "bce").item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="ragan_ls needs"):
        adversarial_loss(fake, "ragan_ls")


def test_gradient_penalty_by_hand():
    from deblurflow.losses import gradient_penalty

    def D(x):  # sum of D(x) = sum(x²) / 2, so its gradient at x is x itself
        return x.square() / 2

    real = torch.tensor([[3.0, 4.0], [3.0, 4.0]]).view(2, 1, 1, 2)
    fake = torch.zeros(2, 1, 1, 2)
    eps = torch.tensor([1.0, 0.5]).view(2, 1, 1, 1)
    # x̂ = (3, 4) -> |x̂| = 5 -> (5 - 1)² = 16;  x̂ = (1.5, 2) -> 2.5 -> 1.5² = 2.25.
    gp = gradient_penalty(D, real, fake, eps)
    assert gp.item() == pytest.approx((16 + 2.25) / 2)


def test_gradient_penalty_trains_the_critic():
    from deblurflow.losses import gradient_penalty

    w = torch.tensor(2.0, requires_grad=True)
    gp = gradient_penalty(lambda x: w * x, torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))
    gp.backward()  # |∇| = |w| = 2: gp = (w - 1)², d gp / dw = 2 (w - 1) = 2
    assert gp.item() == pytest.approx(1.0) and w.grad.item() == pytest.approx(2.0)


def test_generator_loss_adds_ssim_and_perceptual_terms():
    from deblurflow.losses import ssim_loss

    torch.manual_seed(0)
    fake, sharp = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    logits = torch.zeros(1, 1, 2, 2)

    def perceptual(x, y):
        return torch.tensor(0.25)

    out = generator_loss(logits, fake, sharp, 0.01, 1.0, "mse", lambda_ssim=0.3,
                         perceptual=perceptual, lambda_perceptual=2.0)  # fmt: skip
    mse = (fake - sharp).square().mean()
    want = 0.01 * LN2 + mse + 0.3 * ssim_loss(fake, sharp) + 2.0 * 0.25
    assert out["total"].item() == pytest.approx(want.item(), rel=1e-6)
    assert set(out) == {"adv", "pix", "ssim", "perceptual", "total"}


def test_build_losses_takes_every_weight_from_params():
    from deblurflow.losses import build_losses
    from deblurflow.params import Params, TrainParams

    tp = TrainParams(pixel_loss="mse", lambda_adv=0.5, adversarial="wgan_gp", gp_weight=3.0,
                     lambda_fft=0.1, lambda_ssim=0.2)  # fmt: skip
    losses = build_losses(Params(lambda_pix=7.0, train=tp))
    assert losses == GanLosses(lambda_pix=7.0, pixel="mse", lambda_adv=0.5, adversarial="wgan_gp",
                               gp_weight=3.0, lambda_fft=0.1, lambda_ssim=0.2)  # fmt: skip
    assert not losses.needs_real_logits
    with pytest.raises(ValueError, match="lambda_perceptual > 0 needs"):
        GanLosses(lambda_perceptual=1.0)
