"""Where and how the models run: device, autocast dtype, memory format, process rank.

Decided once, here, by ``pick_runtime`` and passed to training, evaluation, ``predict``, the
DDP helpers and the benchmarks, so they all follow the same policy: CUDA when available (bf16
autocast, channels_last, TF32, cuDNN autotuning); else the CPU, in bf16 autocast with
channels_last where the CPU has native bf16 (AMX or AVX512-BF16), fp32 elsewhere.

Why bf16 on such CPUs: measured with ``bench/precision.py`` on a 2-core Intel Xeon with AMX,
the default halfres generator's training step runs 2.73x as fast as fp32 and a 640x360 frame
4.09x (bf16 with channels_last, which oneDNN's bf16 kernels want), at a cost of -0.11 dB of
validation PSNR after 800 equal training steps (BENCHMARKS.md, CHANGELOG.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


class DeviceError(RuntimeError):
    """The device asked for is not available here (e.g. 'cuda' on a machine without CUDA)."""


@dataclass(frozen=True)
class Runtime:
    """Where and how a model runs: device, autocast dtype, memory format, process group."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None = plain fp32
    channels_last: bool
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs and writes outputs."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def place(self, model: nn.Module) -> nn.Module:
        """``model`` on this runtime's device, in its memory format."""
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def describe(self) -> str:
        prec = "fp32" if self.amp_dtype is None else str(self.amp_dtype).removeprefix("torch.")
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return f"{self.device} ({name}), {prec}, world size {self.world_size}"


def pick_runtime(
    device: str = "auto", precision: str = "auto", *, rank: int = 0, world_size: int = 1
) -> Runtime:
    """CUDA with bf16 autocast and channels_last when available, else CPU fp32.

    ``device``: auto | cpu | cuda | cuda:N (plain cuda under torchrun: this process's
    LOCAL_RANK GPU).
    ``precision``: auto (bf16 on CUDA and on CPUs with native bf16, else fp32) | fp32 | bf16
    (also on a CPU without native bf16, where it is slow).
    """
    kind, _, index = device.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} was asked for but no CUDA device is available")
    use_cuda = kind == "cuda" or (kind == "auto" and torch.cuda.is_available())
    if use_cuda:
        dev = torch.device("cuda", int(index or os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    else:
        dev = torch.device("cpu")
    bf16 = precision == "bf16" or (precision == "auto" and (use_cuda or cpu_has_bf16()))
    return Runtime(
        dev,
        torch.bfloat16 if bf16 else None,
        channels_last=use_cuda or bf16,
        rank=rank,
        world_size=world_size,
    )


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """torch.compile when asked; eager (with one warning) wherever compiling is unavailable."""
    if not enabled:
        return model
    # Compilation really happens at the first forward (e.g. no C++ compiler for inductor on
    # CPU); suppress_errors makes dynamo log that and run the model eagerly instead of failing.
    torch._dynamo.config.suppress_errors = True
    try:
        return torch.compile(model)
    except Exception as exc:  # noqa: BLE001 - fall back cleanly where compile is unavailable
        log.warning("torch.compile unavailable (%s); training uncompiled", exc)
        return model
