"""Multi-GPU training with DDP under torchrun: launch, process group, model wrapping.

Every rank draws the same global batch and trains on its own slice (``training.loop``), so N
ranks with batch B reproduce one process with batch N*B: DDP averages the gradients, and the
discriminator's BatchNorm normalises with statistics of the whole global batch. On CUDA that
is torch's ``nn.SyncBatchNorm``; DDP refuses SyncBatchNorm in CPU modules, so on CPU (gloo:
tests, machines without GPUs) ``AllReduceBatchNorm`` does the same with a differentiable
all-reduce of the per-channel sums.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .runtime import Runtime

log = logging.getLogger(__name__)


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run this same script under torchrun with ``nproc`` processes on this node."""
    from torch.distributed.run import main as torchrun

    args = ["--standalone", f"--nproc_per_node={nproc}", *argv]
    log.info("relaunching under torchrun: %s", " ".join(args))
    try:
        torchrun(args)
    except SystemExit as exc:  # torchrun exits via SystemExit / ChildFailedError
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - report the worker failure in one line
        print(f"error: distributed training failed: {exc}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[tuple[int, int]]:
    """(rank, world size); initialises and tears down the process group under torchrun.

    ``device`` is the runtime's device choice (auto | cpu | cuda): NCCL for CUDA, else gloo.
    """
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        yield 0, 1
        return
    use_cuda = device != "cpu" and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        dist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the incoming gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class AllReduceBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics cover the batch of every rank (CPU / gloo).

    Same parameters, buffers and state_dict keys as ``nn.BatchNorm2d``; in eval mode or
    without a process group it is plain BatchNorm. The per-channel sum and sum of squares
    (float64, so E[x^2] - E[x]^2 does not cancel) are all-reduced with an autograd-aware
    all-reduce, whose backward all-reduces the gradients of the global statistics: each
    rank's input gradient is then that of single-process BatchNorm on the global
    batch, as with ``nn.SyncBatchNorm``.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {input.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and distributed):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xd = x.double()
        count = torch.full((1,), x.numel() // c, dtype=torch.float64, device=x.device)
        stats = torch.cat([xd.sum(dims), (xd * xd).sum(dims), count])  # (2C + 1,)
        stats = _AllReduceSum.apply(stats)
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp(min=0)  # biased, as BN normalises
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
            else:
                factor = self.momentum
            with torch.no_grad():
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        shape = [1, c] + [1] * (x.dim() - 2)
        scale = torch.rsqrt(var + self.eps)
        y = (xd - mean.view(shape)) * scale.view(shape)
        y = y.to(x.dtype)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @classmethod
    def convert(cls, module: nn.Module) -> nn.Module:
        """Replace every BatchNorm in ``module`` (in place where possible), sharing parameters
        and buffers so optimizers built on the original module keep working."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, nn.SyncBatchNorm | cls):
            out = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
            )
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.train(module.training)
        for name, child in module.named_children():
            out.add_module(name, cls.convert(child))
        return out


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm over the global batch: torch's SyncBatchNorm on CUDA, AllReduceBatchNorm else."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return AllReduceBatchNorm.convert(model)


def wrapper(runtime: Runtime) -> Callable[[nn.Module], nn.Module] | None:
    """DDP wrapping (with synchronised BatchNorm) when there are several ranks, else None.

    The wrapped model shares its parameters and buffers with the module passed in (BatchNorm
    layers are replaced inside it), so optimizers and checkpoints keep using the plain module.
    """
    if runtime.world_size == 1:
        return None

    def wrap(model: nn.Module) -> nn.Module:
        model = sync_batchnorm(model, runtime.device)
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    return wrap


def mean_over_ranks(values: dict[str, torch.Tensor], world_size: int) -> None:
    """Replace each (scalar) tensor by its mean over all ranks, in place; every rank must call."""
    if world_size == 1 or not values:
        return
    flat = torch.stack([v.detach().float() for v in values.values()])
    dist.all_reduce(flat)
    flat /= world_size
    for v, mean in zip(values.values(), flat):
        v.copy_(mean)
