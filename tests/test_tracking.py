import logging
import subprocess

import pytest

from deblurflow import tracking
from deblurflow.repo import repo_root
from deblurflow.tracking.state import data_hash


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_repo_root_prefers_dvc_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert repo_root() == tmp_path.resolve()
    monkeypatch.delenv("DVC_ROOT")
    subprocess.run(["git", "init", "-q", str(tmp_path / "g")], check=True)
    (tmp_path / "g" / "sub").mkdir()
    assert repo_root(tmp_path / "g" / "sub") == (tmp_path / "g").resolve()


def test_default_uri_is_sqlite_in_repo_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team-server:5000")
    assert tracking.tracking_uri(tmp_path) == "http://team-server:5000"


def test_data_hash_reads_the_prepared_md5(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: x\n    outs:\n"
        "    - path: data/prepared\n      md5: abc123.dir\n"
    )
    assert data_hash(lock) == "abc123.dir"
    assert data_hash(tmp_path / "missing.lock") is None


def test_one_run_shared_by_train_select_evaluate(store, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("DVC_EXP_NAME", "exp-abc")
    t = tracking.Run()
    t.start("exp-abc", {"lambda_pix": 50.0, "train.lr_g": 2e-4}, {"dvc.exp_name": "exp-abc"})
    t.log_metrics({"loss_g": 1.5}, step=10)
    t.log_metrics({"loss_g": 1.0}, step=20)
    run_file = tmp_path / "models" / "mlflow_run.json"
    tracking.write_run_file(run_file, t)
    t.finish()

    later = tracking.Run()  # the select / evaluate stage
    later.attach(tracking.read_run_id(run_file))
    later.log_metrics({"test_psnr": 27.5})

    run = MlflowClient(store).get_run(t.run_id)
    assert run.info.run_name == "exp-abc"
    assert run.data.params["lambda_pix"] == "50.0"
    assert run.data.params["train.lr_g"] == "0.0002"
    assert run.data.tags["dvc.exp_name"] == "exp-abc"
    assert run.data.metrics == {"loss_g": 1.0, "test_psnr": 27.5}
    steps = [m.step for m in MlflowClient(store).get_metric_history(t.run_id, "loss_g")]
    assert steps == [10, 20]


def test_tracking_failure_is_reported_once_and_never_raises(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    t = tracking.Run()
    with caplog.at_level(logging.WARNING):
        t.start("x", {"a": 1}, {})
        t.log_metrics({"loss": 1.0}, step=1)
        t.finish()
    warnings = [r for r in caplog.records if "MLflow tracking failed" in r.getMessage()]
    assert len(warnings) == 1
    assert t.run_id is None and not t.enabled
    tracking.write_run_file(tmp_path / "run.json", t)  # still writes a valid (empty) run file
    assert tracking.read_run_id(tmp_path / "run.json") is None


def test_a_run_is_still_closed_after_a_logging_failure(store, monkeypatch, caplog):
    from mlflow.tracking import MlflowClient

    t = tracking.Run()
    t.start("x", {"a": 1}, {})

    def refuse(*args, **kwargs):
        raise ConnectionError("server went away")

    with monkeypatch.context() as m, caplog.at_level(logging.WARNING):
        m.setattr(t.client, "log_batch", refuse)
        t.log_metrics({"loss": 1.0}, step=1)  # fails: logging is off from here on
        t.log_metrics({"loss": 2.0}, step=2)
    assert not t.enabled
    assert len([r for r in caplog.records if "server went away" in r.getMessage()]) == 1
    t.finish("FAILED")
    run = MlflowClient(store).get_run(t.run_id)
    assert run.info.status == "FAILED"  # not left RUNNING
    assert run.data.metrics == {}
    assert not t.enabled


def test_missing_run_file_disables_tracking(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert tracking.read_run_id(tmp_path / "absent.json") is None
    t = tracking.Run()
    t.attach(None)
    assert not t.enabled


def test_epoch_metrics_rename_epoch_loss_means():
    row = {"epoch": 2, "step": 6, "loss_g": 1.5, "val_psnr": 25.0}
    assert tracking.epoch_metrics(row) == {"epoch_loss_g": 1.5, "val_psnr": 25.0}


def test_training_run_is_started_fresh_and_continued_after_a_resume(store, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("DVC_EXP_NAME", "exp-resume")
    run_file, resume_file = tmp_path / "run.json", tmp_path / "checkpoints" / "run.json"
    first = tracking.Run()
    first.start_training([], {"lambda_pix": 100.0}, run_file, resume_file)
    assert first.run_id and tracking.read_run_id(resume_file) == first.run_id
    first.log_metrics({"val_l1": 0.3}, step=1)  # epoch 1 logged, epoch 2 lost in a kill

    history = [{"epoch": 1, "step": 3, "val_l1": 0.3}, {"epoch": 2, "step": 6, "val_l1": 0.2}]
    resumed = tracking.Run()
    resumed.start_training(history, {"lambda_pix": 100.0}, run_file, resume_file)
    assert resumed.run_id == first.run_id == tracking.read_run_id(run_file)
    client = MlflowClient(store)
    run = client.get_run(first.run_id)
    assert run.info.run_name == "exp-resume" and run.data.tags["resumed_from_epoch"] == "2"
    assert sorted(m.step for m in client.get_metric_history(first.run_id, "val_l1")) == [1, 2]

    fresh = tracking.Run()  # a fresh start (no history) never continues an old run
    fresh.start_training([], {"lambda_pix": 100.0}, run_file, resume_file)
    assert fresh.run_id != first.run_id
