"""GAN losses against hand computations: BCE(0 logits) = ln 2, L1 of known tensors, λ scaling."""

from __future__ import annotations

import math

import pytest
import torch

from deblurflow.losses import discriminator_loss, generator_loss

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
