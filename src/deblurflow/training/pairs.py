"""Training pairs as uint8 tensors on the device, with random crops and flips drawn there.

The prepared uint8 arrays go to the GPU once when they fit; crops and flips happen there, so a
step never decodes a PNG or copies a batch from the host. When they do not fit they stay in
pinned host memory and each step's crops are copied asynchronously.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from ..runtime import Runtime

# Share of the free GPU memory the uint8 frames may take; the rest is kept for activations.
DEVICE_DATA_SHARE = 0.5


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1]."""
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def data_home(
    device: torch.device,
    nbytes: int,
    free_bytes: int | None,
    share: float = DEVICE_DATA_SHARE,
) -> torch.device:
    """Where a split's uint8 frames live: on the GPU when they take at most ``share`` of its
    free memory, else in (pinned) host memory."""
    if device.type != "cuda" or free_bytes is None:
        return device
    return device if nbytes <= share * free_bytes else torch.device("cpu")


class PairStore:
    """One split's blur/sharp pairs as uint8 (N, H, W, 3) tensors, on the device when they fit.

    ``device_share``: the share of free GPU memory the frames may take (0 = always host).
    """

    def __init__(
        self,
        blur: np.ndarray,
        sharp: np.ndarray,
        runtime: Runtime,
        device_share: float = DEVICE_DATA_SHARE,
    ) -> None:
        if blur.shape != sharp.shape or blur.dtype != np.uint8 or blur.ndim != 4:
            raise ValueError(f"blur/sharp arrays disagree: {blur.shape} {sharp.shape} {blur.dtype}")
        self.device = runtime.device
        free = torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda" else None
        home = data_home(self.device, 2 * blur.nbytes, free, device_share)
        self.on_device = home == self.device
        # Host-resident data feeding a GPU is pinned, and so is every crop before its copy,
        # so copies run asynchronously with the step.
        self.pinned = self.device.type == "cuda" and not self.on_device
        self.blur = self._load(blur, home)
        self.sharp = self._load(sharp, home)
        self.n, self.h, self.w, _ = blur.shape

    def _load(self, a: np.ndarray, home: torch.device) -> torch.Tensor:
        t = torch.from_numpy(np.array(a))  # one read of the (memory-mapped) array
        if home.type == "cuda":
            return t.to(home)
        return t.pin_memory() if self.pinned else t

    def __len__(self) -> int:
        return self.n

    def crops(
        self,
        index: torch.Tensor,
        crop: tuple[int, int],
        generator: torch.Generator,
        part: slice = slice(None),
        rotate90: bool = False,
        jitter: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random paired crops + flips of the items ``index[part]``: two (b, 3, ch, cw) in [-1, 1].

        The random positions and flips are drawn for the whole ``index`` (the global batch), so
        a rank that takes only its ``part`` gets the same crops a single process would.
        ``rotate90`` (square crops) adds random transposes, so with the flips every 90-degree
        rotation occurs; ``jitter`` > 0 applies ``color_jitter`` with that strength. Blur and
        sharp always get the same transforms.
        """
        ch, cw = crop
        if rotate90 and ch != cw:
            raise ValueError(f"90-degree rotations need square crops, got {ch}x{cw}")
        dev = self.blur.device
        rand = torch.rand(index.numel(), 4, device=dev, generator=generator)[part]
        # Drawn only when asked for, so runs without augmentation keep their random stream.
        aug = None
        if rotate90 or jitter > 0:
            aug = torch.rand(index.numel(), 4, device=dev, generator=generator)[part]
        index = index[part]
        ys = (rand[:, 0] * (self.h - ch + 1)).long()
        xs = (rand[:, 1] * (self.w - cw + 1)).long()
        rows = ys[:, None] + torch.arange(ch, device=dev)  # (B, ch)
        cols = xs[:, None] + torch.arange(cw, device=dev)  # (B, cw)
        idx = index.to(dev)[:, None, None]

        def take(a: torch.Tensor) -> torch.Tensor:  # one gather kernel: (B, ch, cw, 3)
            return a[idx, rows[:, :, None], cols[:, None, :]]

        out = []
        for a in (self.blur, self.sharp):
            x = take(a)
            x = torch.where((rand[:, 2] < 0.5)[:, None, None, None], x.flip(2), x)  # horizontal
            x = torch.where((rand[:, 3] < 0.5)[:, None, None, None], x.flip(1), x)  # vertical
            if rotate90:
                x = torch.where((aug[:, 0] < 0.5)[:, None, None, None], x.transpose(1, 2), x)
            if self.pinned:
                x = x.pin_memory()  # torch's caching host allocator: reused, copy-safe
            x = x.to(self.device, non_blocking=True)
            out.append(to_unit(x))
        if jitter > 0:
            factors = 1.0 + jitter * (2.0 * aug[:, 1:4] - 1.0)  # (b, 3) in [1 - j, 1 + j]
            factors = factors.to(out[0].device)
            ref = (out[1] + 1) / 2  # contrast pivots on the sharp image's mean grey, for both
            pivot = (ref * LUMA.to(ref.device).view(1, 3, 1, 1)).sum(1).mean((1, 2))  # (b,)
            out = [color_jitter(x, factors, pivot) for x in out]
        return out[0], out[1]


LUMA = torch.tensor([0.299, 0.587, 0.114])  #: ITU-R 601 grey, as torchvision's jitter


def color_jitter(x: torch.Tensor, factors: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation of (b, 3, h, w) images in [-1, 1].

    ``factors`` (b, 3) = (brightness, contrast, saturation) multipliers; contrast scales the
    distance to the grey level ``pivot`` (b,) (in [0, 1]), saturation each pixel's distance to
    its own grey. Every step is the same function for blur and sharp, so pairs stay aligned.
    """
    u = (x + 1) / 2
    b, c, s = (f.view(-1, 1, 1, 1) for f in factors.unbind(1))
    u = (u * b).clamp(0, 1)
    u = ((u - pivot.view(-1, 1, 1, 1)) * c + pivot.view(-1, 1, 1, 1)).clamp(0, 1)
    grey = (u * LUMA.to(u.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    u = (grey + (u - grey) * s).clamp(0, 1)
    return u * 2 - 1


def epoch_batches(
    n: int,
    steps: int,
    global_batch: int,
    generator: torch.Generator,
    device: torch.device | None = None,
) -> Iterator[torch.Tensor]:
    """Indices of each step's global batch: passes over fresh permutations.

    Drawn on the CPU (reproducible on any device) and moved to ``device`` once per epoch, so a
    step never copies indices from the host.
    """
    reps = math.ceil(steps * global_batch / n)
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(reps)])
    order = order.to(device) if device is not None else order
    for s in range(steps):
        yield order[s * global_batch : (s + 1) * global_batch]
