"""The runtime policy: which device and precision each choice of params gives."""

import contextlib

import pytest
import torch
from torch import nn

from deblurflow.runtime import DeviceError, Runtime, cpu_has_bf16, pick_runtime, unwrap

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")


@pytest.mark.parametrize(
    ("device", "precision", "amp"),
    [
        ("cpu", "auto", None),  # the CPU stays exact fp32 unless asked
        ("cpu", "fp32", None),
        ("cpu", "bf16", torch.bfloat16),  # explicit bf16 works on the CPU too
    ],
)
def test_cpu_choices(device, precision, amp):
    rt = pick_runtime(device, precision)
    assert rt.device == torch.device("cpu") and rt.amp_dtype == amp and not rt.channels_last
    assert rt.is_main and rt.world_size == 1
    assert ("bfloat16" if amp else "fp32") in rt.describe()


@no_cuda
def test_auto_without_cuda_is_cpu_fp32():
    rt = pick_runtime()
    assert rt.device.type == "cpu" and rt.amp_dtype is None and not rt.channels_last
    assert isinstance(rt.autocast(), contextlib.nullcontext)


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_a_clear_error(device):
    with pytest.raises(DeviceError, match=f"'{device}' was asked for but no CUDA device"):
        pick_runtime(device)
    assert issubclass(DeviceError, RuntimeError)


@pytest.mark.parametrize(
    ("device", "precision", "what"),
    [("gpu", "auto", "device"), ("cpu:0", "auto", "device"), ("cpu", "fp16", "precision")],
)
def test_unknown_choices_name_what_is_wrong(device, precision, what):
    with pytest.raises(ValueError, match=what):
        pick_runtime(device, precision)


def test_rank_and_world_size():
    rt = pick_runtime("cpu", rank=1, world_size=2)
    assert (rt.rank, rt.world_size, rt.is_main) == (1, 2, False)
    assert "world size 2" in rt.describe()


def test_bf16_autocast_runs_matmuls_in_bf16():
    rt = pick_runtime("cpu", "bf16")
    a = torch.ones(4, 4)
    with rt.autocast():
        assert (a @ a).dtype == torch.bfloat16
    assert (a @ a).dtype == torch.float32


def test_unwrap_finds_the_plain_module():
    plain = nn.Linear(2, 2)

    class Wrapper(nn.Module):  # the attribute names DDP (module) and compile (_orig_mod) use
        def __init__(self, attr: str, inner: nn.Module) -> None:
            super().__init__()
            setattr(self, attr, inner)

    assert unwrap(plain) is plain
    assert unwrap(Wrapper("module", plain)) is plain
    assert unwrap(Wrapper("_orig_mod", plain)) is plain


def test_cpu_has_bf16_is_a_bool():
    assert isinstance(cpu_has_bf16(), bool)


def test_runtime_is_frozen():
    rt = Runtime(torch.device("cpu"), None, channels_last=False)
    with pytest.raises(AttributeError):
        rt.rank = 3
