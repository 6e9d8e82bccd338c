"""CUDA-only checks (skipped without a GPU): bf16 training, device-resident data, no host sync."""

import warnings

import numpy as np
import pytest
import torch

from deblurflow.params import ModelParams, Params, TrainParams
from deblurflow.prepared import load_split
from deblurflow.runtime import pick_runtime
from deblurflow.training.loop import train
from deblurflow.training.pairs import PairStore
from deblurflow.training.validation import validate

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_runtime_is_bf16_channels_last():
    rt = pick_runtime("auto")
    assert rt.device.type == "cuda" and rt.amp_dtype == torch.bfloat16 and rt.channels_last


def test_data_lives_on_the_gpu_and_crops_never_sync(prepared):
    rt = pick_runtime("cuda")
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
    cpu, gpu = pick_runtime("cpu"), pick_runtime("cuda")
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
    rt = pick_runtime(params.train.device, params.train.precision)
    res = train(params, prepared, tmp_path, rt)
    assert [r["epoch"] for r in res.history] == [1, 2]
    assert all(np.isfinite(r[k]) for r in res.history for k in ("loss_g", "loss_d", "val_psnr"))
    assert (tmp_path / "last.pt").exists()


def test_host_fallback_pins_data_and_crops(prepared):
    rt = pick_runtime("cuda")
    blur, _ = load_split(prepared, "train")
    store = PairStore(blur, 255 - blur, rt, device_share=0.0)  # as if the data did not fit
    assert not store.on_device and store.pinned and store.blur.is_pinned()
    index = torch.arange(4)
    b, s = store.crops(index, (32, 32), torch.Generator().manual_seed(0))
    assert b.device.type == "cuda" and b.shape == (4, 3, 32, 32)
    torch.testing.assert_close(s, -b, rtol=0, atol=1e-6)  # still aligned pairs


def test_training_syncs_only_to_log(prepared, tmp_path):
    """With CUDA's sync debug mode on, the only synchronisations between two loss logs are
    the four logged values' .item()."""
    params = Params(
        model=ModelParams(channels=8, res_blocks=2, d_channels=8),
        train=TrainParams(
            epochs=1, batch_size=4, crop=32, steps_per_epoch=6, log_every=2, device="cuda"
        ),
    )
    at_log = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def on_log(losses, step):
            if step == 2:
                torch.cuda.set_sync_debug_mode("warn")
            at_log[step] = sum("synchroniz" in str(w.message) for w in caught)

        try:
            rt = pick_runtime(params.train.device, params.train.precision)
            train(params, prepared, tmp_path, rt, on_log=on_log)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    assert at_log[4] - at_log[2] == 4 and at_log[6] - at_log[4] == 4, at_log
