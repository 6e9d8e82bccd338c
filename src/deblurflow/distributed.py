"""Multi-GPU training with DDP under torchrun: launch, process group, model wrapping."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator

import torch
from torch import nn

from .params import TrainParams

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
def process_group(train: TrainParams) -> Iterator[tuple[int, int]]:
    """(rank, world size); initialises and tears down the process group under torchrun."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        yield 0, 1
        return
    use_cuda = train.device != "cpu" and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    torch.distributed.init_process_group(backend)
    try:
        yield torch.distributed.get_rank(), torch.distributed.get_world_size()
    finally:
        torch.distributed.destroy_process_group()


def wrapper(runtime) -> Callable[[nn.Module], nn.Module] | None:
    """DDP wrapping (with SyncBatchNorm) when there are several ranks, else None."""
    if runtime.world_size == 1:
        return None

    def wrap(model: nn.Module) -> nn.Module:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    return wrap
