"""Checks on the two real GoPro blur/sharp pairs in data/real/gopro-real."""

import pytest

from deblurflow.images import read_rgb
from deblurflow.metrics import psnr, ssim

# Input (blur vs sharp) PSNR stated by the data's README (DeepDeblur_release images).
STATED_INPUT_PSNR = {"Istanbul": 24.05, "Flower": 25.11}


@pytest.mark.parametrize("name", sorted(STATED_INPUT_PSNR))
def test_metrics_reproduce_the_stated_input_psnr(real_data, name):
    blur = read_rgb(real_data / "gopro-real" / f"{name}_blur.png")
    sharp = read_rgb(real_data / "gopro-real" / f"{name}_sharp.png")
    assert blur.shape == sharp.shape == (720, 1280, 3)
    assert psnr(sharp, blur) == pytest.approx(STATED_INPUT_PSNR[name], abs=0.01)
    assert 0.5 < ssim(sharp, blur) < 0.95  # real blur: far from identical, same scene
