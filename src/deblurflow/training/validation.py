"""Per-epoch validation on whole val frames: L1, PSNR and SSIM, computed on the device."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..inference import pad_to_multiple
from ..metrics import psnr_torch, ssim_torch
from ..runtime import Runtime
from .pairs import PairStore, to_unit


@torch.no_grad()
def validate(
    generator: nn.Module | None,
    store: PairStore,
    runtime: Runtime,
    max_images: int | None = None,
    batch: int = 4,
    content: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """Mean L1 (on [-1, 1]), PSNR and SSIM (on uint8-rounded RGB) over whole val frames, and
    ``val_loss`` = mean ``content(out, sharp)`` (the generator's loss without the terms that
    need a network) when ``content`` is given.

    ``generator=None`` measures the blurred input itself (the do-nothing baseline).
    """
    n = min(len(store), max_images or len(store))
    was_training = generator.training if generator is not None else False
    if generator is not None:
        generator.eval()
    l1 = torch.zeros((), device=runtime.device, dtype=torch.float64)
    psnr = torch.zeros_like(l1)
    ssim = torch.zeros_like(l1)
    loss = torch.zeros_like(l1)
    for start in range(0, n, batch):
        sl = slice(start, min(n, start + batch))
        blur = to_unit(store.blur[sl].to(runtime.device, non_blocking=True))  # (b, 3, H, W)
        sharp = to_unit(store.sharp[sl].to(runtime.device, non_blocking=True))
        if generator is None:
            out = blur
        else:
            x, h, w = pad_to_multiple(blur)
            if runtime.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                out = generator(x)
            out = out[..., :h, :w].float()
        l1 += (out - sharp).abs().mean(dim=(1, 2, 3)).sum().double()
        if content is not None:
            loss += content(out, sharp).double() * out.shape[0]  # a batch mean -> a sum
        out255 = ((out + 1) * 127.5).round().clamp(0, 255)
        gt255 = ((sharp + 1) * 127.5).round()
        psnr += psnr_torch(gt255, out255).double().clamp(max=100.0).sum()
        # float32: 16x as fast as the float64 of the evaluate stage's SSIM on a CPU and within
        # 1e-5 of it on the sample's frames (1e-4 at worst on flat ones): a monitor's precision.
        ssim += ssim_torch(gt255, out255, dtype=torch.float32).double().sum()
    if generator is not None and was_training:
        generator.train()
    row = {"val_l1": (l1 / n).item(), "val_psnr": (psnr / n).item(), "val_ssim": (ssim / n).item()}
    if content is not None:
        row["val_loss"] = (loss / n).item()
    return row
