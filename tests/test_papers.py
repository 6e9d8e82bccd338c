"""Each seed paper as one recipe: valid params, published parameter counts, the docs'
commands, and paper rows that train end to end (one through the train stage script)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from deblurflow.models import build_discriminator, build_generator
from deblurflow.params import Params, ParamsError
from deblurflow.recipes import (
    DOCS_END,
    DOCS_START,
    PAPERS,
    apply,
    command,
    docs,
    overrides,
    params_for,
)
from deblurflow.runtime import pick_runtime
from deblurflow.training import train
from deblurflow.training.schedule import should_stop


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)  # ConvTranspose2d counts the same


def bn(c: int) -> int:
    return 2 * c  # BatchNorm2d: weight + bias


c = 64
# ResNet convs (DeblurGAN / HUST / HKUST): 7x7 3->64, 3x3 64->128->256, blocks of two
# 3x3 256->256, two up-convs 256->128->64 (k x k), 7x7 64->3.
RESNET6_T4 = (
    conv(3, c, 7) + conv(c, 2 * c, 3) + conv(2 * c, 4 * c, 3) + 6 * 2 * conv(4 * c, 4 * c, 3)
    + conv(4 * c, 2 * c, 4) + conv(2 * c, c, 4) + conv(c, 3, 7)
)  # fmt: skip
RESNET9_T3 = (
    conv(3, c, 7) + conv(c, 2 * c, 3) + conv(2 * c, 4 * c, 3) + 9 * 2 * conv(4 * c, 4 * c, 3)
    + conv(4 * c, 2 * c, 3) + conv(2 * c, c, 3) + conv(c, 3, 7)
)  # fmt: skip
# BatchNorm after every conv but the last: head 64, down 128 + 256, 2 per block of 256, up
# 128 + 64.
BN6 = bn(c) + bn(2 * c) + bn(4 * c) + 6 * 2 * bn(4 * c) + bn(2 * c) + bn(c)
BN9 = bn(c) + bn(2 * c) + bn(4 * c) + 9 * 2 * bn(4 * c) + bn(2 * c) + bn(c)
# t-block (Hacettepe), width 64: l1 3x3 3->32 + BN, l2 3x3 32->64 + BN, t2 (ONE module for
# three sites) 1x1 64->32 + four 3x3 32->16, t3 reductions 1x1 + BN 192->64, 128->64 (ONE
# module for l8 and l9), 96->32, out 3x3 32->3.
TBLOCK = (
    conv(3, 32, 3) + bn(32) + conv(32, 64, 3) + bn(64)
    + conv(64, 32, 1) + 4 * conv(32, 16, 3)
    + conv(192, 64, 1) + bn(64) + conv(128, 64, 1) + bn(64) + conv(96, 32, 1) + bn(32)
    + conv(32, 3, 3)
)  # fmt: skip
# PatchGAN 70x70: 4x4 convs 3->64 (bias, no norm), 64->128, 128->256 (stride 2), 256->512
# (stride 1), 512->1 (bias). BatchNorm: the normed convs drop their bias; instance: keep it.
PATCH_BN = (
    conv(3, 64, 4) + conv(64, 128, 4, False) + bn(128) + conv(128, 256, 4, False) + bn(256)
    + conv(256, 512, 4, False) + bn(512) + conv(512, 1, 4)
)  # fmt: skip
PATCH_IN = (
    conv(3, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4) + conv(512, 1, 4)
)

EXPECTED = {
    "hust": (RESNET6_T4 + BN6, PATCH_BN),
    "hacettepe": (TBLOCK, PATCH_BN),
    "hitam": (RESNET9_T3, PATCH_BN),  # InstanceNorm: no parameters
    "hkust": (RESNET9_T3 + BN9, PATCH_BN),  # dropout: no parameters
    "deblurgan": (RESNET9_T3, PATCH_IN),
    "deblurganv2": (RESNET9_T3, PATCH_IN),
}


def test_hand_counts_are_the_published_sizes():
    assert RESNET6_T4 + BN6 == 8_131_843  # HUST ResNet-6, 4x4 transposed convs, BatchNorm
    assert RESNET9_T3 == 11_378_179  # DeblurGAN's published 11.4M
    assert TBLOCK == 65_059
    assert PATCH_BN == 2_765_633  # pix2pix's 70x70 PatchGAN, 2.77M


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize("name", list(PAPERS))
def test_recipe_is_valid_params_and_builds_the_published_networks(raw, name):
    gopro = params_for(raw, name, "gopro")
    sample = params_for(raw, name, "sample")
    assert gopro.model == sample.model  # the sample scale-down keeps the architecture
    assert gopro.data.source == "gopro" and sample.data.source == "sample"
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    g_count, d_count = EXPECTED[name]
    assert n(build_generator(gopro.model)) == g_count
    assert n(build_discriminator(gopro.model)) == d_count


def test_recipes_refuse_unknown_keys(raw):
    with pytest.raises(ParamsError, match="train.lamda_ssim"):
        apply(raw, {"train.lamda_ssim": 0.3})


def test_docs_recipes_block_is_generated():
    page = (REPO / "docs" / "recipes.md").read_text()
    block = page.split(DOCS_START, 1)[1].split(DOCS_END, 1)[0]
    assert block.strip() == docs().strip(), (
        "docs/recipes.md is stale: python -m deblurflow.recipes --docs docs/recipes.md"
    )
    flat = re.sub(r"\s*\\\n\s*", " ", block)
    for name in PAPERS:
        for target in ("gopro", "sample"):
            assert command(name, target) in flat, f"docs lack {name} {target}"


def tiny(p: Params, **train) -> Params:
    """A paper's recipe at test size: narrow networks, a couple of steps."""
    import dataclasses

    model = dataclasses.replace(p.model, channels=8, d_channels=8)
    base = dict(epochs=1, steps_per_epoch=1, batch_size=2, device="cpu",
                perceptual_weights="random", log_every=1)  # fmt: skip
    base.update(train)
    if p.train.crop is not None:
        base.setdefault("crop", 32)
    return dataclasses.replace(p, model=model, train=dataclasses.replace(p.train, **base))


@pytest.mark.parametrize("name", list(PAPERS))
def test_every_paper_row_trains(raw, name, prepared, tmp_path):
    params = tiny(params_for(raw, name, "sample"))
    result = train(params, prepared, tmp_path, pick_runtime("cpu"))
    row = result.history[-1]
    assert all(torch.isfinite(torch.tensor(row[k])) for k in ("loss_g", "loss_d", "val_loss"))


def test_hacettepe_row_runs_through_the_train_stage(raw, prepared, tmp_path, repo):
    """t-block + MSE + SSIM + plateau + early stopping, through stages/train.py and MLflow."""
    p = apply(raw, overrides("hacettepe", "sample"))
    p["model"].update(channels=8, d_channels=8)
    p["train"].update(epochs=3, steps_per_epoch=1, batch_size=2, device="cpu",
                      plateau_patience=1, early_stop_patience=1)  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    ckpt = tmp_path / "checkpoints"
    cmd = [
        sys.executable, str(repo / "stages" / "train.py"),
        "--params", str(tmp_path / "params.yaml"), "--data", str(prepared),
        "--checkpoints", str(ckpt), "--history", str(tmp_path / "history.csv"),
        "--run-file", str(tmp_path / "run.json"), "--plot", str(tmp_path / "curves.png"),
    ]  # fmt: skip
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    history = json.loads((ckpt / "history.json").read_text())
    tp = params_for(raw, "hacettepe", "sample").train
    import dataclasses

    tp = dataclasses.replace(tp, epochs=3, plateau_patience=1, early_stop_patience=1)
    # Stopped exactly where early stopping says, never before.
    assert all(not should_stop(tp, history[:n]) for n in range(1, len(history)))
    assert len(history) == 3 or should_stop(tp, history)
    if len(history) < 3:
        assert "early stop after epoch" in out.stderr
    assert all("val_loss" in row for row in history)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("deblurflow").experiment_id])
    logged = runs[0].data.params
    assert logged["model.generator"] == "tblock" and logged["train.schedule"] == "plateau"
    assert logged["train.lambda_ssim"] == "0.3" and logged["train.pixel_loss"] == "mse"
    # The train stage leaves its run RUNNING: evaluate ends it (issue 12, run_info.ends_run).
    assert runs[0].info.status == "RUNNING"
