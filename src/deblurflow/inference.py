"""Whole-frame inference: uint8 RGB (H, W, 3) in, uint8 RGB out, any frame size."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deblurflow.models.generator import MIN_SIZE, MULTIPLE


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> float32 (1, 3, H, W) in [-1, 1] (x / 127.5 - 1)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 RGB (H, W, 3), got {rgb.dtype} {rgb.shape}")
    rgb = np.ascontiguousarray(rgb)
    if not rgb.flags.writeable:  # e.g. a frame of a read-only memory-mapped split
        rgb = rgb.copy()
    t = torch.from_numpy(rgb).permute(2, 0, 1)[None]  # (1, 3, H, W)
    return t.float() / 127.5 - 1.0


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Float (1, 3, H, W) or (3, H, W) in [-1, 1] -> uint8 RGB (H, W, 3), rounded and clamped."""
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"to_uint8 takes one image, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected (1, 3, H, W) or (3, H, W), got {tuple(tensor.shape)}")
    t = ((tensor.detach().float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return t.permute(1, 2, 0).cpu().numpy()


def pad_to_multiple(
    x: torch.Tensor, multiple: int = MULTIPLE, min_size: int = MIN_SIZE
) -> tuple[torch.Tensor, int, int]:
    """Pad (N, C, H, W) at the bottom/right up to multiples of ``multiple`` and at least
    ``min_size``; returns (padded, H, W) so the caller can crop back with ``[..., :H, :W]``.

    Reflection padding (no hard edge for the network to react to); frames too small to
    reflect fall back to replicating the border.
    """
    h, w = x.shape[-2:]

    def target(n: int) -> int:
        n = max(n, min_size)
        return n + -n % multiple

    ph, pw = target(h) - h, target(w) - w
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


def deblur(
    generator: nn.Module,
    rgb: np.ndarray,
    device: str | torch.device | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """Deblur one uint8 RGB (H, W, 3) frame of any size with ``generator`` -> uint8 RGB.

    ``device`` defaults to where the generator's weights are; the generator is not moved.
    The generator runs in eval mode and is put back in its previous mode afterwards.
    ``amp_dtype=torch.bfloat16`` runs it under autocast (about 2x faster on a CPU with bf16
    instructions, and on GPUs); None = the weights' precision. ``channels_last`` feeds the
    frame in that memory format (what oneDNN's bf16 kernels and cuDNN want).
    """
    if device is None:
        param = next(generator.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    was_training = generator.training
    generator.eval()
    try:
        with torch.inference_mode():
            x, h, w = pad_to_multiple(to_tensor(rgb).to(device))  # (1, 3, H', W')
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            dev_type = torch.device(device).type
            amp = (
                torch.autocast(dev_type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
            )
            with amp:
                y = generator(x)[..., :h, :w]  # (1, 3, H, W)
            return to_uint8(y)
    finally:
        generator.train(was_training)
