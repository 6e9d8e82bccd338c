"""Readable MLflow runs: names, standard tags, experiment kind, status across stages, system
metrics, and the generator as a registered MLflow Model that `predict -m models:/...` uses."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from deblurflow import tracking
from deblurflow.cli import main
from deblurflow.images import read_rgb, write_png
from deblurflow.models import build_generator, save_generator
from deblurflow.params import ModelParams
from deblurflow.tracking import registry, state

pytest.importorskip("mlflow")


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # a server-less store puts artifacts under ./mlruns
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def _git_repo(path, params_text):
    def git(*args):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)

    git("init", "-q")
    (path / "params.yaml").write_text(params_text)
    git("add", "params.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "params")
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.strip()


def test_changed_params_are_flattened():
    now = {"lambda_pix": 50, "train": {"lr_g": 1e-3, "epochs": 2}, "new": 1}
    old = {"lambda_pix": 100, "train": {"lr_g": 1e-3, "epochs": 3}}
    assert state.changed_params(now, old) == {"lambda_pix": 50, "train.epochs": 2, "new": 1}


def test_run_name_from_dvc_then_changed_params_then_commit(tmp_path, monkeypatch):
    sha = _git_repo(tmp_path, "lambda_pix: 100\ntrain:\n  lr_g: 0.002\n  epochs: 25\n")
    params = tmp_path / "params.yaml"
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert state.run_name(params) == f"params@{sha}"
    params.write_text("lambda_pix: 50\ntrain:\n  lr_g: 0.002\n  epochs: 3\n")
    assert state.run_name(params) == "lambda_pix=50 train.epochs=3"
    monkeypatch.setenv("DVC_EXP_NAME", "lumpy-kite")
    assert state.run_name(params) == "lumpy-kite"


def test_standard_tags_name_the_commit_and_user(tmp_path, monkeypatch):
    _git_repo(tmp_path, "seed: 0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("USER", "ana")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    tags = state.standard_tags("dvc.yaml")
    assert tags["mlflow.source.git.commit"] == head.strip()
    assert tags["mlflow.user"] == "ana" and tags["mlflow.source.name"] == "dvc.yaml"


def _started(client):
    t = tracking.Run()
    t.start("lambda_pix=50", {"lambda_pix": 50}, state.standard_tags("dvc.yaml"))
    t.describe()
    return t


def test_experiment_kind_and_status_across_stages(store, tmp_path):
    t = _started(store)
    exp = store.get_experiment(store.get_run(t.run_id).info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    run_file = tmp_path / "run.json"
    tracking.write_run_file(run_file, t)
    with tracking.stage_run(run_file, finish=False):  # select
        pass
    assert store.get_run(t.run_id).info.status == "RUNNING"
    with pytest.raises(OSError), tracking.stage_run(run_file, finish=True):  # evaluate fails
        raise OSError("disk full")
    assert store.get_run(t.run_id).info.status == "FAILED"
    t2 = _started(store)
    tracking.write_run_file(run_file, t2)
    with tracking.stage_run(run_file, finish=True):  # evaluate succeeds
        pass
    assert store.get_run(t2.run_id).info.status == "FINISHED"
    assert store.get_run(t2.run_id).info.run_name == "lambda_pix=50"


def test_dataset_input_carries_the_dvc_hash(store, tmp_path):
    t = _started(store)
    t.log_dataset(tmp_path / "prepared", "0123abcd.dir")
    (inp,) = store.get_run(t.run_id).inputs.dataset_inputs
    assert inp.dataset.name == "prepared" and inp.dataset.digest == "0123abcd"
    assert '"dvc_md5": "0123abcd.dir"' in inp.dataset.source
    assert [(tag.key, tag.value) for tag in inp.tags] == [("mlflow.data.context", "training")]


def test_system_metrics_are_logged(store, monkeypatch):
    monkeypatch.setattr(tracking.run, "SYSTEM_METRICS_INTERVAL_S", 0.2)
    t = _started(store)
    import time

    with t.system_metrics():
        time.sleep(1.0)
    metrics = store.get_run(t.run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics, sorted(metrics)


@pytest.mark.slow
def test_registered_model_round_trip_and_predict(store, tmp_path, capsys):
    import mlflow
    import torch

    params = ModelParams(generator="resnet", channels=4, res_blocks=1, d_channels=4)
    g = build_generator(params)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_generator(tmp_path / "best.pt", g, params, epoch=3)
    t = _started(store)
    assert registry.log_generator(t, tmp_path / "best.pt", {"test_psnr": 28.04}) == "1"
    mv = store.get_model_version("deblurflow-generator", "1")
    assert mv.tags["test_psnr"] == "28.04" and mv.run_id == t.run_id
    info = mlflow.models.get_model_info("models:/deblurflow-generator/1")
    run = store.get_run(t.run_id)
    assert store.get_logged_model(info.model_id).experiment_id == run.info.experiment_id
    assert [s.shape for s in info.signature.inputs.inputs] == [(-1, 3, -1, -1)]
    assert info.saved_input_example_info is not None

    img = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", img)
    base = ["predict", str(tmp_path / "a.png"), "--precision", "fp32"]
    assert main([*base, "-m", "models:/deblurflow-generator/1", "-o", str(tmp_path / "r")]) == 0
    assert main([*base, "-m", str(tmp_path / "best.pt"), "-o", str(tmp_path / "f")]) == 0
    from_registry = read_rgb(tmp_path / "r" / "a_deblurred.png")
    assert not np.array_equal(from_registry, img)
    np.testing.assert_array_equal(from_registry, read_rgb(tmp_path / "f" / "a_deblurred.png"))
    assert main([*base, "-m", "models:/deblurflow-generator/9"]) == 1
    assert "models:/deblurflow-generator/9: cannot fetch" in capsys.readouterr().err
