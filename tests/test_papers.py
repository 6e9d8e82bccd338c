"""Each seed paper as one recipe: valid params, published parameter counts, the docs'
commands, and paper rows that train end to end (one through the train stage script)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
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
from deblurflow.training.loop import train
from deblurflow.training.schedule import should_stop

# Parameter counts as the papers' layer lists give them, summed term by term by hand (not by the
# formula the code uses). conv k x k cin -> cout with bias = cin*cout*k*k + cout; BatchNorm 2c.

# HUST ResNet-6 (seed 000 §3.4, slides 001 §2.3): 7x7 3->64 + BN, 3x3 s2 64->128 + BN,
# 3x3 s2 128->256 + BN, 6 residual blocks of two 3x3 256->256 + BN each, 4x4 s2 transposed
# 256->128 + BN and 128->64 + BN, 7x7 64->3. Every conv has its bias.
HUST_G = (
    (9_408 + 64) + 128  # 7x7 3->64 + BN                      9,600
    + (73_728 + 128) + 256  # 3x3 64->128 + BN                74,112
    + (294_912 + 256) + 512  # 3x3 128->256 + BN             295,680
    + 6 * (2 * (589_824 + 256) + 2 * 512)  # 6 x 1,181,184 = 7,087,104
    + (524_288 + 128) + 256  # 4x4 transposed 256->128 + BN  524,672
    + (131_072 + 64) + 128  # 4x4 transposed 128->64 + BN    131,264
    + (9_408 + 3)  # 7x7 64->3                                   9,411
)  # fmt: skip
# DeblurGAN's ResNet-9 (Kupyn et al. 2018 §3.2; HITAM and HKUST follow it): as above with
# InstanceNorm (no parameters), 9 blocks and 3x3 transposed up-convs.
RESNET9 = (
    (9_408 + 64)  # 7x7 3->64                                    9,472
    + (73_728 + 128) + (294_912 + 256)  # down convs     73,856 + 295,168
    + 9 * 2 * (589_824 + 256)  # 18 x 590,080 =           10,621,440
    + (294_912 + 128) + (73_728 + 64)  # 3x3 up-convs    295,040 + 73,792
    + (9_408 + 3)  # 7x7 64->3                                   9,411
)  # fmt: skip
# HKUST (seed 004 §4.2): the same with BatchNorm after every conv but the last:
# 128 + 256 + 512 + 9 x 1,024 + 256 + 128 = 10,496.
HKUST_G = RESNET9 + (128 + 256 + 512 + 9 * 1_024 + 256 + 128)
# Hacettepe t-block (seed 002 Listing 1), the sum: l1 conv 3->32 + BN, l2 conv 32->64
# + BN, 1x1 bottleneck 64->32, four 3x3 32->16, 3x3 192->64, 3x3 128->64, 3x3 96->32, 3x3 32->3.
TBLOCK = 960 + 18_624 + 2_080 + 18_496 + 110_656 + 73_792 + 27_680 + 867
# pix2pix's 70x70 PatchGAN: 4x4 convs 3->64 (bias), 64->128 s2, 128->256 s2, 256->512 s1
# (BatchNorm: no bias), 512->1 (bias).
PATCH_BN = (
    (3_072 + 64) + (131_072 + 256) + (524_288 + 512) + (2_097_152 + 1_024) + (8_192 + 1)
)  # fmt: skip
# InstanceNorm critic (DeblurGAN): non-affine norms, the convs keep their biases.
PATCH_IN = (3_072 + 64) + (131_072 + 128) + (524_288 + 256) + (2_097_152 + 512) + (8_192 + 1)

EXPECTED = {
    "hust": (HUST_G, PATCH_BN),
    "hacettepe": (TBLOCK, PATCH_BN),
    "hitam": (RESNET9, PATCH_BN),  # InstanceNorm: no parameters
    "hkust": (HKUST_G, PATCH_BN),  # dropout: no parameters
    "deblurgan": (RESNET9, PATCH_IN),
    "deblurganv2": (RESNET9, PATCH_IN),
}


def test_hand_counts_are_the_published_sizes():
    assert HUST_G == 8_131_843  # HUST ResNet-6, 4x4 transposed convs, BatchNorm
    assert RESNET9 == 11_378_179  # DeblurGAN's published 11.4M
    assert HKUST_G == 11_388_675  # HKUST Table 2: "11.40M"
    assert TBLOCK == 253_155  # Hacettepe Listing 1
    assert PATCH_BN == 2_765_633  # pix2pix's 70x70 PatchGAN, 2.77M
    assert PATCH_IN == 2_764_737


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


@pytest.mark.parametrize("name", list(PAPERS))
def test_each_departure_line_cites_its_paper(name):
    """Issue 22 part 2: the 'where the paper is silent or we depart' line names sections of the
    seed text (§) or, for DeblurGAN and DeblurGAN-v2 (not among the five texts), the paper."""
    notes = PAPERS[name].notes
    cited = re.findall(r"§[IVX\d.]+|Listing \d|Table \d", notes)
    if name.startswith("deblurgan"):
        assert "Kupyn et al. 20" in notes
    else:
        assert len(cited) >= 2, notes


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


@pytest.mark.slow
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
    # The train stage leaves its run RUNNING: evaluate ends it (issue 12, tracking.stage_run).
    assert runs[0].info.status == "RUNNING"


@pytest.mark.slow
def test_bench_papers_table_on_a_tiny_budget(prepared, tmp_path, repo):
    """bench/papers.py: every offline row trains, is scored (test and real pairs) and lands an
    MLflow run; first at equal steps, then at an equal time budget (calibrated steps)."""
    from deblurflow.images import write_png

    rng = np.random.default_rng(0)
    real = tmp_path / "real"
    for name in ("p1.png", "p2.png"):
        write_png(real / "blur" / name, rng.integers(0, 256, (36, 64, 3), dtype=np.uint8))
        write_png(real / "sharp" / name, rng.integers(0, 256, (36, 64, 3), dtype=np.uint8))
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    small = ["--set", "model.channels=8", "--set", "model.d_channels=8", "--set",
             "train.batch_size=2", "--set", "train.crop=32", "--set", "train.device=cpu",
             "--set", "evaluate.device=cpu", "--data", str(prepared),
             "--real", str(real)]  # fmt: skip
    bench = [sys.executable, str(repo / "bench" / "papers.py")]
    out = subprocess.run([*bench, "--steps", "2", "--epochs", "1", *small], env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    table = [ln for ln in out.stdout.splitlines() if ln.startswith("| ")]
    rows = table[-5:]  # the table printed at the end (each row was also printed as it came)
    assert table[-6].startswith("| row | G params | train s | steps | test PSNR (input, gain)")
    assert [r.split(" | ")[0] for r in rows] == [
        "| default (params.yaml)", "| HUST ResNet-6 + PatchGAN", "| Hacettepe t-block",
        "| DeblurGAN set-up WITHOUT its VGG term (WGAN-GP alone)",
        "| DeblurGAN-v2 set-up WITHOUT its VGG term (0.5 MSE + 0.01 RaGAN-LS)",
    ]  # fmt: skip
    for r in rows:
        cells = [c.strip() for c in r.strip("| ").split(" | ")]
        assert cells[3] == "2"  # steps
        assert re.fullmatch(r"\d+\.\d\d \(\d+\.\d\d, [+-]\d+\.\d\d\)", cells[4]), cells  # test
        assert re.fullmatch(r"\d+\.\d\d \(\d+\.\d\d, [+-]\d+\.\d\d\)", cells[6]), cells  # real
        assert int(cells[8]) > 0  # ms per 640x360 frame

    from mlflow.tracking import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("deblurflow")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(
        f"papers-{n}" for n in ("default", "hust", "hacettepe", "deblurgan-novgg",
                                "deblurganv2-novgg")
    )  # fmt: skip
    for r in runs:
        assert r.info.status == "FINISHED"
        assert {"test_psnr", "real_psnr", "ms_per_640x360", "generator_params"} <= set(
            r.data.metrics
        )
    hac = next(r for r in runs if r.info.run_name == "papers-hacettepe")
    assert hac.data.params["model.generator"] == "tblock"
    # Listing 1 at width 8: 120 + 312 + 36 + 296 + 1,736 + 1,160 + 436 + 111
    assert hac.data.metrics["generator_params"] == 4_207

    timed = subprocess.run([*bench, "--seconds", "1", "--epochs", "1", "--calibrate", "2",
                            "--row", "hust", "--no-mlflow", *small],
                           env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert timed.returncode == 0, timed.stderr[-3000:]
    assert "budget: 1 s per row" in timed.stdout
    (hust,) = [ln for ln in timed.stdout.splitlines() if ln.startswith("| HUST")][-1:]
    assert int(hust.split(" | ")[3]) >= 1
