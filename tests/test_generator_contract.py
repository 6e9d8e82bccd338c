"""What every full-size generator promises the pipeline, checked for NAFNet and halfres alike:
any H, W, output in [-1, 1], the identity before training, one GAN step moving every
parameter, and the generator file round trip."""

from __future__ import annotations

import pytest
import torch

from deblurflow.losses import GanLosses, discriminator_loss
from deblurflow.models import build_discriminator, build_generator, load_generator, save_generator
from deblurflow.params import ModelParams

#: model params, the name of the generator's last conv (zero at the start)
CASES = {
    "nafnet": (
        ModelParams(generator="nafnet", channels=8, enc_blocks=(1, 2), middle_blocks=1,
                    d_channels=8),
        "ending",
    ),
    "halfres": (ModelParams(generator="halfres", channels=8, res_blocks=2, d_channels=8), "tail"),
}  # fmt: skip


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]


@pytest.mark.parametrize("hw", [(37, 53), (64, 64), (8, 12), (3, 5)])
def test_any_size_shape_range_and_starts_as_identity(case, hw):
    model, last = case
    torch.manual_seed(0)
    g = build_generator(model)
    x = torch.rand(2, 3, *hw) * 2 - 1
    assert torch.equal(g(x), x)  # zero last conv: the untrained net passes the input through
    with torch.no_grad():
        getattr(g, last).weight.normal_(0, 0.1)
    y = g(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all() and y.min() >= -1 and y.max() <= 1
    assert not torch.equal(y, x)


def test_one_gan_step_trains_every_parameter(case):
    model, last = case
    torch.manual_seed(0)
    g, d = build_generator(model), build_discriminator(model)
    blur, sharp = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    opt = torch.optim.AdamW(g.parameters(), 1e-3)
    fake = g(blur)
    discriminator_loss(d(sharp), d(fake.detach())).backward()
    losses = GanLosses(100.0, "charbonnier", 1.0, lambda_fft=0.1).generator(d(fake), fake, sharp)
    opt.zero_grad()
    losses["total"].backward()
    assert all(torch.isfinite(p.grad).all() for p in g.parameters())
    assert getattr(g, last).weight.grad.abs().sum() > 0
    opt.step()
    # After one step the body is no longer skipped: the last conv now passes a signal.
    assert not torch.equal(g(blur), blur)


def test_generator_file_round_trip(case, tmp_path):
    model, last = case
    torch.manual_seed(0)
    g = build_generator(model)
    with torch.no_grad():
        getattr(g, last).weight.normal_(0, 0.1)
    save_generator(tmp_path / "g.pt", g, model)
    back, info = load_generator(tmp_path / "g.pt")
    assert type(back) is type(g)
    assert ModelParams(**info["model"]) == model
    x = torch.rand(1, 3, 24, 40) * 2 - 1
    torch.testing.assert_close(back(x), g.eval()(x))
