"""End to end: the real dvc.yaml on tiny params, in a temp copy of the repo."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from workspace import BIN, STAGES, TINY, clean_env, copy_repo, merge, ran, repo_params, run

from deblurflow import tracking

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A git + DVC copy of this repo's files with tiny params, committed."""
    if not (BIN / "dvc").exists():
        pytest.skip("dvc is not installed next to this Python")
    env = clean_env(PYTHONUNBUFFERED="1")
    ws = copy_repo(tmp_path_factory.mktemp("ws"), merge(repo_params(), TINY), env)
    return ws, env


def mlflow_runs(ws: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = client.get_experiment_by_name("deblurflow")
    return client.search_runs([exp.experiment_id]) if exp else []


def test_repro_then_noop(workspace):
    from mlflow.tracking import MlflowClient

    ws, env = workspace
    out = run([str(BIN / "dvc"), "repro"], ws, env)
    assert ran(out) == STAGES
    for p in ["data/raw/train", "data/pairs/manifest.json", "data/prepared/train_blur.npy",
              "models/best.pt", "metrics/select.json", "metrics/eval_per_image.csv"]:  # fmt: skip
        assert (ws / p).exists(), p
    ev = json.loads((ws / "metrics/eval.json").read_text())
    assert {"test_psnr", "test_ssim", "input_psnr", "gain_psnr", "ms_per_image"} <= set(ev)
    assert len(list((ws / "metrics/samples").glob("*.png"))) == 2
    history = (ws / "metrics/train_history.csv").read_text().splitlines()
    assert len(history) == 3  # header + 2 epochs

    again = run([str(BIN / "dvc"), "repro"], ws, env)
    assert ran(again) == []
    shown = run([str(BIN / "dvc"), "metrics", "show"], ws, env)
    assert "test_psnr" in shown
    plots = run([str(BIN / "dvc"), "plots", "show", "--json"], ws, env)
    assert "val_psnr" in plots and "loss_g" in plots and "training_curves.png" in plots

    import torch

    best = torch.load(ws / "models/best.pt", weights_only=True)
    select = json.loads((ws / "metrics/select.json").read_text())
    assert best["epoch"] == select["epoch"] and select["metric"] == "val_l1"
    assert best["model"]["channels"] == 4

    runs = mlflow_runs(ws)
    assert len(runs) == 1
    assert runs[0].info.status == "FINISHED"  # ended by evaluate, not by train
    assert runs[0].info.run_name.startswith("params@")  # committed params, plain dvc repro
    assert runs[0].data.tags["mlflow.source.git.commit"]
    assert runs[0].data.params["lambda_pix"] == "100.0"
    assert "test_psnr" in runs[0].data.metrics and "best_epoch" in runs[0].data.metrics
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    assert runs[0].info.artifact_uri.startswith((ws / "mlartifacts").as_uri())
    assert not (ws / "mlruns").exists()
    val_panels = [a.path for a in client.list_artifacts(runs[0].info.run_id, "val_samples")]
    assert val_panels == ["val_samples/epoch_0001.png", "val_samples/epoch_0002.png"]
    assert {a.path for a in client.list_artifacts(runs[0].info.run_id)} >= {
        "samples", "model", "eval.json", "eval_per_image.csv", "val_samples",
    }  # fmt: skip
    version = client.get_model_version("deblurflow-generator", "1")
    assert version.run_id == runs[0].info.run_id and "test_psnr" in version.tags
    run(["git", "add", "-A"], ws, env)
    run(["git", "commit", "-qm", "baseline"], ws, env)


def test_a_comment_in_the_split_code_reruns_prepare_not_train(workspace):
    """Train reads the prepared-data format (prepared.py), not the split code (prepare.py):
    an edit there reruns prepare, whose identical output then leaves train as it was."""
    ws, env = workspace
    code = ws / "src/deblurflow/prepare.py"
    code.write_text(code.read_text() + "\n# a comment-only edit\n")
    status = run([str(BIN / "dvc"), "status"], ws, env)
    assert "prepare:" in status and "train:" not in status, status
    assert ran(run([str(BIN / "dvc"), "repro"], ws, env)) == ["prepare"]
    run(["git", "checkout", "--", "src/deblurflow/prepare.py"], ws, env)
    run([str(BIN / "dvc"), "repro"], ws, env)  # back (prepare from DVC's run cache)
    assert run(["git", "status", "--porcelain"], ws, env).strip() == ""


def test_exp_run_lambda_pix_reruns_training_only(workspace):
    ws, env = workspace
    out = run([str(BIN / "dvc"), "exp", "run", "-S", "lambda_pix=50"], ws, env)
    assert ran(out) == ["train", "select", "evaluate"]
    runs = mlflow_runs(ws)
    by_lambda = {r.data.params["lambda_pix"]: r for r in runs}
    assert set(by_lambda) == {"100.0", "50.0"}
    exp50 = by_lambda["50.0"]
    assert "test_psnr" in exp50.data.metrics
    assert exp50.data.tags.get("dvc.exp_name") == exp50.info.run_name
    assert exp50.info.status == "FINISHED"

    # Back to the baseline and to the experiment again: every output, the MLflow run file
    # included, comes back with its stage, so nothing looks changed and nothing retrains.
    run(["git", "checkout", "--", "."], ws, env)
    run([str(BIN / "dvc"), "checkout"], ws, env)
    assert "up to date" in run([str(BIN / "dvc"), "status"], ws, env)
    run([str(BIN / "dvc"), "exp", "apply", exp50.info.run_name], ws, env)
    assert "up to date" in run([str(BIN / "dvc"), "status"], ws, env)
    assert tracking.read_run_id(ws / "models/mlflow_run.json") == exp50.info.run_id


def test_exp_run_blur_frames_reruns_from_synthesize(workspace):
    ws, env = workspace
    out = run([str(BIN / "dvc"), "exp", "run", "-S", "blur.frames=9"], ws, env)
    assert ran(out) == ["synthesize", "prepare", "train", "select", "evaluate"]
    manifest = json.loads((ws / "data/pairs/manifest.json").read_text())
    assert {p["m"] for p in manifest["pairs"]} == {9}


def test_queued_experiment_lands_in_the_main_mlflow_db(workspace):
    ws, env = workspace
    before = len(mlflow_runs(ws))
    run([str(BIN / "dvc"), "exp", "run", "--queue", "-S", "lambda_pix=10"], ws, env)
    run([str(BIN / "dvc"), "queue", "start", "-j", "1"], ws, env)
    deadline = time.time() + 420
    while time.time() < deadline:
        status = run([str(BIN / "dvc"), "queue", "status"], ws, env)
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Success" in status, status
    runs = mlflow_runs(ws)
    assert len(runs) == before + 1
    new = [r for r in runs if r.data.params["lambda_pix"] == "10.0"]
    assert len(new) == 1 and "test_psnr" in new[0].data.metrics
    run([str(BIN / "dvc"), "queue", "stop"], ws, env)
