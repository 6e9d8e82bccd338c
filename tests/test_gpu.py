"""CUDA-only checks (skipped without a GPU): bf16 training, device-resident data, no host sync."""

import numpy as np
import pytest
import torch

from deblurflow.params import ModelParams, Params, TrainParams
from deblurflow.prepare import load_split
from deblurflow.training import PairStore, pick_runtime, train, validate

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_runtime_is_bf16_channels_last():
    rt = pick_runtime(TrainParams(device="auto"))
    assert rt.device.type == "cuda" and rt.amp_dtype == torch.bfloat16 and rt.channels_last


def test_data_lives_on_the_gpu_and_crops_never_sync(prepared):
    rt = pick_runtime(TrainParams(device="cuda"))
    store = PairStore(*load_split(prepared, "train"), rt)
    assert store.on_device and store.blur.device.type == "cuda"
    index = torch.arange(4, device=rt.device)
    gen = torch.Generator(device=rt.device).manual_seed(0)
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation raises
    try:
        blur, sharp = store.crops(index, (32, 32), gen)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert blur.shape == (4, 3, 32, 32) and blur.device.type == "cuda"


def test_validation_on_gpu_matches_cpu(prepared):
    cpu, gpu = pick_runtime(TrainParams(device="cpu")), pick_runtime(TrainParams(device="cuda"))
    arrays = load_split(prepared, "val")
    on_cpu = validate(None, PairStore(*arrays, cpu), cpu)
    on_gpu = validate(None, PairStore(*arrays, gpu), gpu)
    for k, v in on_cpu.items():
        assert on_gpu[k] == pytest.approx(v, abs=1e-5), k


def test_bf16_training_runs_and_learns_finite(prepared, tmp_path):
    params = Params(
        model=ModelParams(channels=8, res_blocks=2, d_channels=8),
        train=TrainParams(epochs=2, batch_size=4, crop=32, steps_per_epoch=10, device="cuda"),
    )
    res = train(params, prepared, tmp_path, pick_runtime(params.train))
    assert [r["epoch"] for r in res.history] == [1, 2]
    assert all(np.isfinite(r[k]) for r in res.history for k in ("loss_g", "loss_d", "val_psnr"))
    assert (tmp_path / "last.pt").exists()
