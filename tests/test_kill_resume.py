"""A train stage killed mid-run keeps its last complete epoch and resumes from it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml


@pytest.mark.slow
def test_killed_train_stage_resumes_from_last_complete_epoch(tmp_path, make_prepared, repo):
    data = make_prepared({"train": 6, "val": 2, "test": 2})
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["model"].update(channels=4, res_blocks=1, d_channels=4)
    params["train"].update(epochs=3, batch_size=2, crop=32, steps_per_epoch=150, log_every=50)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ckpt = tmp_path / "checkpoints"
    cmd = [
        sys.executable, str(repo / "stages" / "train.py"),
        "--params", str(tmp_path / "params.yaml"), "--data", str(data), "--checkpoints", str(ckpt),
        "--history", str(tmp_path / "history.csv"), "--run-file", str(tmp_path / "run.json"),
        "--plot", str(tmp_path / "curves.png"),  # not the default metrics/ of the repo
    ]  # fmt: skip
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not (ckpt / "history.json").exists():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.time() < deadline, "no epoch finished in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: like a power cut or OOM kill
    proc.wait()

    done = json.loads((ckpt / "history.json").read_text())
    saved = torch.load(ckpt / "last.pt", weights_only=True)  # complete, never half-written
    assert saved["epoch"] == done[-1]["epoch"] < 3

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming from {ckpt}/last.pt after epoch {saved['epoch']}" in out.stderr
    history = json.loads((ckpt / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[: len(done)] == done  # earlier epochs kept, not recomputed
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 4

    # The resumed run continued the MLflow run it was killed in: one run, all three epochs.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("deblurflow").experiment_id])
    # One run, still RUNNING: the train stage leaves it for evaluate to end (issue 12).
    assert len(runs) == 1 and runs[0].info.status == "RUNNING"
    assert runs[0].data.tags["resumed_from_epoch"] == str(saved["epoch"])
    epochs = [m.step for m in client.get_metric_history(runs[0].info.run_id, "val_psnr")]
    assert sorted(epochs) == [1, 2, 3]
