"""PSNR / SSIM: numpy reference by hand, torch batched versions against scikit-image."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from deblurflow.metrics import psnr, psnr_torch, ssim, ssim_torch


def _nchw(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float()  # (N, H, W, 3) -> (N, 3, H, W)


def test_psnr_by_hand():
    gt = np.zeros((4, 4, 3), np.uint8)
    out = np.full((4, 4, 3), 5, np.uint8)
    assert psnr(gt, out) == pytest.approx(20 * math.log10(255 / 5))  # MSE 25 -> 34.15 dB
    one = gt.copy()
    one[2, 1, 0] = 255  # one of 48 values off by 255: MSE = 255² / 48
    assert psnr(gt, one) == pytest.approx(10 * math.log10(48))  # 16.81 dB
    assert psnr(one, gt) == psnr(gt, one)


def test_identical_images():
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)
    t = _nchw(img[None])
    assert torch.isinf(psnr_torch(t, t)).all()
    assert ssim_torch(t, t).item() == pytest.approx(1.0)


def test_ssim_is_the_basicsr_convention():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    out = cv2.GaussianBlur(gt, (5, 5), 1.0)
    expected = structural_similarity(
        gt,
        out,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=-1,
    )
    assert ssim(gt, out) == expected
    assert 0 < ssim(gt, out) < 1


def test_numpy_metrics_refuse_wrong_inputs():
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        psnr(a.astype(np.float32) / 255, a.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="shape"):
        ssim(a, a[:8])
    with pytest.raises(ValueError, match="RGB"):
        psnr(a[..., 0], a[..., 0])


def _random_pairs(n, h, w, seed):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    noise = rng.integers(-60, 61, gt.shape) * rng.random((n, 1, 1, 1))  # a level per image
    return gt, np.clip(gt + noise, 0, 255).astype(np.uint8)


def _structured_pairs(n, h, w, seed):
    """Smooth gradients, an edge and a near-flat patch (where float32 variances would fail)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    gts, outs = [], []
    for i in range(n):
        img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 64 * 4], axis=-1)
        img[:, w // 2 :] = 200 + (xx[:, w // 2 :, None] % 2)  # flat region, values 200/201
        gt = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
        out = cv2.GaussianBlur(gt, (0, 0), 0.5 + i)  # a different blur per image
        gts.append(gt)
        outs.append(out)
    return np.stack(gts), np.stack(outs)


@pytest.mark.parametrize("make", [_random_pairs, _structured_pairs])
@pytest.mark.parametrize("hw", [(11, 11), (32, 32), (40, 72), (97, 61)])
def test_torch_metrics_match_skimage_per_image(make, hw):
    gt, out = make(3, *hw, seed=hw[0])
    got_ssim = ssim_torch(_nchw(gt), _nchw(out))
    got_psnr = psnr_torch(_nchw(gt), _nchw(out))
    assert got_ssim.shape == (3,) and got_psnr.shape == (3,)
    ref_ssim = [ssim(g, o) for g, o in zip(gt, out, strict=True)]
    ref_psnr = [psnr(g, o) for g, o in zip(gt, out, strict=True)]
    assert len(set(ref_ssim)) == 3  # per-image values, not one batch mean
    # The contract is 1e-3; float64 internally gives far better, so guard that too.
    np.testing.assert_allclose(got_ssim.numpy(), ref_ssim, atol=1e-6)
    np.testing.assert_allclose(got_psnr.numpy(), ref_psnr, atol=1e-6)


def test_torch_metrics_input_checks():
    a = torch.zeros(1, 3, 10, 20)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_torch(a, a)
    with pytest.raises(ValueError, match="batch"):
        psnr_torch(a[0], a[0])
    with pytest.raises(ValueError, match="shape"):
        ssim_torch(torch.zeros(1, 3, 16, 16), torch.zeros(2, 3, 16, 16))
