"""DDP on CPU with 2 gloo processes: N ranks with batch B must reproduce one process with N*B.

Each distributed test starts real processes (torch.multiprocessing.spawn, or torchrun for the
train stage) on a free localhost port, one thread each so two ranks share the two cores.
"""

from __future__ import annotations

import csv
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import yaml
from torch import nn

from deblurflow import distributed
from deblurflow.distributed import AllReduceBatchNorm
from deblurflow.models import build_generator
from deblurflow.params import ModelParams, Params, TrainParams
from deblurflow.runtime import pick_runtime
from deblurflow.training.loop import train

WORLD = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn, *args) -> None:
    """Run ``fn(rank, *args)`` on WORLD gloo ranks (env:// rendezvous, like torchrun)."""
    mp.spawn(fn, args=(free_port(), *args), nprocs=WORLD, join=True)


def join_group(rank: int, port: int) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
    )


# --- AllReduceBatchNorm: BatchNorm over the global batch on CPU --------------------------------


def batch_and_weights() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2 * WORLD, 5, 6, 7, generator=g) * 3 + 1  # (B, C, H, W), off-centre
    w = torch.randn(2 * WORLD, 5, 6, 7, generator=g)  # loss = sum(w * BN(x))
    return x, w


def bn_worker(rank: int, port: int, out: Path) -> None:
    join_group(rank, port)
    torch.distributed.init_process_group("gloo")
    try:
        torch.manual_seed(0)
        bn = AllReduceBatchNorm.convert(nn.Sequential(nn.BatchNorm2d(5)))[0]
        x, w = batch_and_weights()
        mine = slice(rank * 2, rank * 2 + 2)
        xr = x[mine].clone().requires_grad_(True)
        y = bn(xr)
        (w[mine] * y).sum().backward()
        bn.eval()
        y_eval = bn(x[mine])
        torch.save(
            {
                "y": y.detach(),
                "dx": xr.grad,
                "dweight": bn.weight.grad,
                "dbias": bn.bias.grad,
                "state": bn.state_dict(),
                "y_eval": y_eval.detach(),
            },
            out / f"rank{rank}.pt",
        )
    finally:
        torch.distributed.destroy_process_group()


def test_allreduce_batchnorm_equals_batchnorm_on_the_global_batch(tmp_path):
    spawn(bn_worker, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]

    torch.manual_seed(0)
    bn = nn.BatchNorm2d(5)
    x, w = batch_and_weights()
    x.requires_grad_(True)
    y = bn(x)
    (w * y).sum().backward()
    bn.eval()
    y_eval = bn(x.detach())

    close = dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat([r["y"] for r in ranks]), y.detach(), **close)
    torch.testing.assert_close(torch.cat([r["dx"] for r in ranks]), x.grad, **close)
    # Without DDP each rank holds its own part of the parameter gradient; they sum to the whole.
    torch.testing.assert_close(sum(r["dweight"] for r in ranks), bn.weight.grad, **close)
    torch.testing.assert_close(sum(r["dbias"] for r in ranks), bn.bias.grad, **close)
    for r in ranks:  # running stats of the global batch, on every rank; eval uses them
        assert r["state"].keys() == bn.state_dict().keys()
        for k, v in bn.state_dict().items():
            torch.testing.assert_close(r["state"][k], v, **close)
    torch.testing.assert_close(torch.cat([r["y_eval"] for r in ranks]), y_eval, **close)

    # The check has teeth: BatchNorm of one rank's half alone is visibly different.
    local = nn.BatchNorm2d(5)(x.detach()[:2])
    assert (local - y.detach()[:2]).abs().max() > 1e-2


def test_convert_shares_parameters_and_buffers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    before = dict(model.named_parameters()) | dict(model.named_buffers())
    opt = torch.optim.Adam(model.parameters())
    out = AllReduceBatchNorm.convert(model)
    assert out is model and isinstance(model[1], AllReduceBatchNorm)
    after = dict(model.named_parameters()) | dict(model.named_buffers())
    assert before.keys() == after.keys() and all(before[k] is after[k] for k in before)
    assert all(p is q for p, q in zip(opt.param_groups[0]["params"], model.parameters()))
    # Without a process group it is plain BatchNorm.
    x = torch.randn(4, 4, 5, 5)
    ref = nn.BatchNorm2d(4)
    torch.testing.assert_close(model[1](x), ref(x))


# --- the real training path: 2 ranks x batch B == 1 process x batch 2B ---------------------------


def ddp_params(batch: int) -> Params:
    train = TrainParams(
        epochs=2,
        batch_size=batch,
        crop=32,
        steps_per_epoch=2,
        log_every=1,
        device="cpu",
        precision="fp32",  # exact: the check is DDP against one process, not bf16 rounding
        # The seed recipe (Adam 2e-4, L1, constant rate, full adversarial weight): rank-order
        # float differences in the all-reduced gradients stay well inside the 1e-5 tolerance.
        optimizer="adam",
        lr_g=2e-4,
        lr_d=2e-4,
        beta1=0.5,
        beta2=0.999,
        pixel_loss="l1",
        schedule="constant",
        warmup_steps=0,
        lambda_adv=1.0,
    )
    # The seed ResNet: its InstanceNorm makes some biases no-ops, which the check must skip, and
    # its BatchNorm-free generator beside a BatchNorm discriminator covers SyncBatchNorm.
    model = ModelParams(generator="resnet", channels=4, res_blocks=1, d_channels=4)
    return Params(model=model, train=train)


def train_worker(rank: int, port: int, data: Path, out: Path, batch: int) -> None:
    join_group(rank, port)
    params = ddp_params(batch)
    tp = params.train
    with distributed.process_group(tp.device) as (r, world):
        runtime = pick_runtime(tp.device, tp.precision, rank=r, world_size=world)
        logged: list[tuple[int, dict[str, float]]] = []
        result = train(
            params,
            data,
            out,
            runtime,
            on_log=lambda losses, step: logged.append((step, losses)),
            wrap=distributed.wrapper(runtime),
        )
        torch.save({"history": result.history, "logged": logged}, out.parent / f"ddp{r}.pt")


def no_effect_biases(model: nn.Module) -> set[str]:
    """Biases of convolutions followed by a non-affine InstanceNorm, which removes them.

    Their true gradient is 0, so what they receive is rounding noise, which Adam rescales to
    steps of about lr: they drift differently in any two runs that round differently, without
    changing the generator's output. They are checked through the output instead.
    """
    names = set()
    for prefix, seq in model.named_modules():
        if isinstance(seq, nn.Sequential):
            for i, (a, b) in enumerate(zip(seq, list(seq)[1:])):
                conv = isinstance(a, nn.Conv2d | nn.ConvTranspose2d) and a.bias is not None
                if conv and isinstance(b, nn.InstanceNorm2d) and not b.affine:
                    names.add(f"{prefix}.{i}.bias" if prefix else f"{i}.bias")
    return names


@pytest.mark.slow
def test_ddp_training_equals_one_process_with_the_global_batch(tmp_path, make_prepared):
    data = make_prepared({"train": 7, "val": 2, "test": 1})
    batch = 2
    spawn(train_worker, data, tmp_path / "ddp", batch)
    torch.set_num_threads(1)
    params = ddp_params(WORLD * batch)
    logged: list[tuple[int, dict[str, float]]] = []
    one = train(
        params,
        data,
        tmp_path / "one",
        pick_runtime(params.train.device, params.train.precision),
        on_log=lambda losses, step: logged.append((step, losses)),
    )

    # Rank 0 alone wrote the checkpoints (no stray temp files); the other rank logged nothing.
    names = {p.name for p in (tmp_path / "ddp").iterdir() if not p.name.startswith("epoch_")}
    assert names == {"last.pt", "history.json"}
    rank0 = torch.load(tmp_path / "ddp0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "ddp1.pt", weights_only=True)
    assert rank1["logged"] == [] and [s for s, _ in rank0["logged"]] == [s for s, _ in logged]

    ddp = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    ref = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    assert ddp["step"] == ref["step"] == 4
    skip = no_effect_biases(build_generator(params.model))
    assert skip, "expected the generator's biases before InstanceNorm"
    for k, v in ref["generator"].items():
        if k not in skip:
            torch.testing.assert_close(ddp["generator"][k], v, rtol=0, atol=1e-5, msg=k)
    # Discriminator weights and BatchNorm running stats: statistics of the global batch.
    for k, v in ref["discriminator"].items():
        torch.testing.assert_close(ddp["discriminator"][k], v, rtol=0, atol=1e-5, msg=k)

    # Same function: outputs on fresh frames agree, the no-effect biases included.
    outputs = []
    for state in (ddp, ref):
        g = build_generator(params.model)
        g.load_state_dict(state["generator"])
        x = torch.rand(2, 3, 36, 64, generator=torch.Generator().manual_seed(5)) * 2 - 1
        with torch.no_grad():
            outputs.append(g.eval()(x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=1e-5)
    assert (outputs[1] - x).abs().max() > 1e-3  # training moved G away from the identity

    # Logged losses and the epoch history are the global batch's, not rank 0's shard.
    for (_, a), (_, b) in zip(rank0["logged"], logged):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    for a, b in zip(rank0["history"], one.history):
        for k in ("loss_g", "loss_d", "loss_adv", "loss_pix", "val_l1", "val_psnr", "val_ssim"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5), k


# --- the train stage relaunches itself under torchrun -------------------------------------------


@pytest.mark.slow
def test_train_stage_with_two_devices_runs_under_torchrun(tmp_path, make_prepared, repo):
    data = make_prepared({"train": 6, "val": 2, "test": 1})
    params = {
        "seed": 0,
        "lambda_pix": 100,
        "model": {"channels": 4, "res_blocks": 1, "d_channels": 4},
        "train": {
            "epochs": 2,
            "batch_size": 2,
            "crop": 32,
            "steps_per_epoch": 2,
            "log_every": 1,
            "device": "cpu",
            "devices": 2,
        },
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        DVC_ROOT=str(tmp_path),
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(repo / "src"),
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(repo / "stages" / "train.py"),
            "--params",
            "params.yaml",
            "--data",
            str(data),
            "--checkpoints",
            "models/checkpoints",
            "--history",
            "metrics/train_history.csv",
            "--run-file",
            "models/mlflow_run.json",
        ],  # fmt: skip
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "relaunching under torchrun" in log and "world size 2" in log

    ckpt = tmp_path / "models" / "checkpoints"
    state = torch.load(ckpt / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["step"] == 4
    with open(tmp_path / "metrics" / "train_history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(np.isfinite(float(r["loss_g"])) for r in rows)
    assert (tmp_path / "models" / "mlflow_run.json").exists()
    # Rank 0 alone tracked: one MLflow run, which logged each epoch once.
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 1
        epochs = db.execute("select step from metrics where key = 'val_psnr' order by step")
        assert [s for (s,) in epochs] == [1, 2]
