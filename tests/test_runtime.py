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
        ("cpu", "fp32", None),
        ("cpu", "bf16", torch.bfloat16),  # explicit bf16 works on any CPU (slow without AMX)
    ],
)
def test_cpu_choices(device, precision, amp):
    rt = pick_runtime(device, precision)
    assert rt.device == torch.device("cpu") and rt.amp_dtype == amp
    assert rt.channels_last == (amp is not None)  # oneDNN's bf16 kernels want NHWC
    assert rt.is_main and rt.world_size == 1
    assert ("bfloat16" if amp else "fp32") in rt.describe()


@pytest.mark.parametrize("native", [True, False])
def test_cpu_auto_is_bf16_only_with_native_bf16(monkeypatch, native):
    import deblurflow.runtime as runtime

    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: native)
    rt = pick_runtime("cpu", "auto")
    assert rt.amp_dtype == (torch.bfloat16 if native else None)
    assert rt.channels_last == native
    if not native:
        assert isinstance(rt.autocast(), contextlib.nullcontext)


@no_cuda
def test_auto_without_cuda_is_the_cpu():
    rt = pick_runtime()
    assert rt.device.type == "cpu"
    assert rt.amp_dtype == (torch.bfloat16 if cpu_has_bf16() else None)


def test_place_puts_the_model_in_the_runtime_memory_format():
    conv = nn.Conv2d(3, 4, 3)
    placed = pick_runtime("cpu", "bf16").place(conv)
    assert placed.weight.is_contiguous(memory_format=torch.channels_last)
    assert pick_runtime("cpu", "fp32").place(nn.Conv2d(3, 4, 3)).weight.is_contiguous()


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
