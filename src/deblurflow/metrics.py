"""PSNR and SSIM, the BasicSR/NAFNet convention on uint8 RGB.

Numpy functions (``psnr``, ``ssim``) are the reference used for reported test metrics. The torch
versions (``psnr_torch``, ``ssim_torch``) compute the same numbers batched on whatever device the
tensors live on, for per-epoch validation without a host round-trip; ``ssim_torch`` matches
``skimage.metrics.structural_similarity`` with the settings below to ~1e-10.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

DATA_RANGE = 255.0
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # skimage's value for gaussian_weights=True -> radius 5, 11 taps
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_uint8_pair(gt: np.ndarray, out: np.ndarray) -> None:
    if gt.shape != out.shape:
        raise ValueError(f"images differ in shape: {gt.shape} vs {out.shape}")
    if gt.dtype != np.uint8 or out.dtype != np.uint8:
        # A float image in [0, 1] scored with data_range 255 gives plausible-looking nonsense.
        raise TypeError(f"expected uint8 images, got {gt.dtype} and {out.dtype}")
    if gt.ndim != 3 or gt.shape[2] != 3:
        raise ValueError(f"expected RGB (H, W, 3), got {gt.shape}")


def psnr(gt: np.ndarray, out: np.ndarray) -> float:
    """PSNR in dB of uint8 RGB (H, W, 3) images: 10·log10(255² / MSE) over all pixels and
    channels; ``inf`` for identical images."""
    _check_uint8_pair(gt, out)
    mse = np.mean((gt.astype(np.float64) - out.astype(np.float64)) ** 2)
    if mse == 0:
        return math.inf
    return float(10.0 * np.log10(DATA_RANGE**2 / mse))


def ssim(gt: np.ndarray, out: np.ndarray) -> float:
    """SSIM in [-1, 1] of uint8 RGB (H, W, 3) images (at least 11x11): Gaussian window
    sigma 1.5, population covariance, data range 255, mean over channels."""
    _check_uint8_pair(gt, out)
    return float(
        structural_similarity(
            gt,
            out,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            data_range=DATA_RANGE,
            channel_axis=-1,
        )
    )


def _check_tensor_pair(gt: torch.Tensor, out: torch.Tensor) -> None:
    if gt.shape != out.shape:
        raise ValueError(f"images differ in shape: {tuple(gt.shape)} vs {tuple(out.shape)}")
    if gt.ndim != 4:
        raise ValueError(f"expected a batch (N, C, H, W), got {tuple(gt.shape)}")


def psnr_torch(gt: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (N,) in dB of float (N, C, H, W) batches in [0, 255]; inf where identical.

    Round ``out`` to integers first to reproduce the uint8 numbers of ``psnr``.
    """
    _check_tensor_pair(gt, out)
    # float64: summing millions of squared errors in float32 drifts in the 4th digit.
    diff = gt.double() - out.double()
    mse = diff.pow(2).mean(dim=(1, 2, 3))  # (N,)
    return 10.0 * torch.log10(DATA_RANGE**2 / mse)


def _gaussian_taps(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """scipy.ndimage's 1-D Gaussian kernel (what skimage's SSIM filters with): 11 taps."""
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    taps = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return taps / taps.sum()


def ssim_torch(
    gt: torch.Tensor, out: torch.Tensor, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Per-image SSIM (N,) of float (N, C, H, W) batches in [0, 255] (H, W >= 11).

    Same numbers as ``ssim`` (skimage, Gaussian window, population covariance, data range 255,
    mean over channels). Computed in float64 by default: the variance terms E[x²] − E[x]²
    cancel badly in float32 for flat regions (float32 is close enough for a training loss).
    Differentiable.
    """
    _check_tensor_pair(gt, out)
    n, c, h, w = gt.shape
    taps = _gaussian_taps(gt.device, dtype)
    k = taps.numel()
    if h < k or w < k:
        raise ValueError(f"SSIM needs images of at least {k}x{k}, got {h}x{w}")
    x = gt.to(dtype)
    y = out.to(dtype)
    # All five local moments in one grouped separable convolution.
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N, 5C, H, W)
    groups = 5 * c
    # "Valid" convolution: skimage filters with reflect padding and then crops (k - 1) // 2 from
    # every border before averaging, and the cropped region never sees the padding, so an
    # unpadded convolution gives exactly the cropped maps.
    stack = F.conv2d(stack, taps.view(1, 1, 1, k).expand(groups, 1, 1, k), groups=groups)
    stack = F.conv2d(stack, taps.view(1, 1, k, 1).expand(groups, 1, k, 1), groups=groups)
    ux, uy, uxx, uyy, uxy = stack.chunk(5, dim=1)  # each (N, C, H - k + 1, W - k + 1)
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))  # mean over pixels then channels (all channels same size)
