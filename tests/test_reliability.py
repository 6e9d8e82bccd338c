"""Issue 11, fast half: durable writes, one-line faults, tracking that costs seconds, honest
resume messages, downloads verified before reuse. (Kills, full disks and dvc runs: see
test_reliability_slow.py.)"""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from deblurflow import atomic, stage, tracking
from deblurflow.models import ModelFileError, build_generator, load_generator, save_generator
from deblurflow.params import ModelParams
from deblurflow.sources import SourceError
from deblurflow.sources.download import download
from deblurflow.tracking.faults import one_line
from deblurflow.tracking.registry import log_generator
from deblurflow.training.checkpoint import CHECKPOINT_FORMAT
from deblurflow.training.resume import load_resumable

REPO = Path(__file__).resolve().parents[1]


# --- item 2: atomic writes are durable and leave no debris -----------------------------------


def test_atomic_write_fsyncs_the_file_then_its_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "out" / "last.pt"
    atomic.write_text(target, "weights")
    assert target.read_text() == "weights"
    # The temp file's content first (before the rename), then the folder holding the rename.
    assert len(synced) == 2
    assert Path(synced[0]).name.startswith(".last.pt.") and synced[0].endswith(".tmp")
    assert synced[1] == str(target.parent)


def test_stage_start_removes_temp_files_a_killed_writer_left(tmp_path, capsys):
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    (ckpt / "last.pt").write_bytes(b"good")
    debris = [ckpt / ".last.pt.k3j2.tmp", tmp_path / ".history.csv.x1.tmp"]
    for p in debris:
        p.write_bytes(b"half")
    (tmp_path / ".prepared.ab.tmp").mkdir()  # an atomic_dir's temp folder
    seen = []
    rc = stage.run(
        "train",
        lambda: seen.extend(sorted(p.name for p in tmp_path.rglob("*"))),
        clean=[ckpt, tmp_path / "history.csv", tmp_path / "prepared"],
    )
    assert rc == 0
    assert seen == ["checkpoints", "last.pt"]  # gone before the body ran
    assert (ckpt / "last.pt").read_bytes() == b"good"


@pytest.mark.slow
def test_dvc_never_caches_an_atomic_temp_file_inside_an_output():
    out = subprocess.run(
        # The venv's dvc (make test does not put the venv on PATH).
        [str(Path(sys.executable).with_name("dvc")), "check-ignore",
         "models/checkpoints/.last.pt.k3j2.tmp", "models/checkpoints/a.pt"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )  # fmt: skip
    assert out.stdout.split() == ["models/checkpoints/.last.pt.k3j2.tmp"]


# --- item 3: a full disk is one line naming the path and the space needed -------------------


def test_full_disk_during_a_write_names_path_and_size(tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def fake_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return Full(f) if "w" in mode and str(path).startswith(str(tmp_path)) else f

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)  # pathlib's
    target = tmp_path / "history.json"
    with pytest.raises(OSError) as info:
        atomic.write_text(target, "x" * 3 * 2**20)
    assert str(info.value).startswith(f"no space left on device at {target}, needed ~3 MB (")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no temp file left


# --- item 4: a dead tracking server costs seconds and one line -------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_tracking_server_costs_seconds_and_one_line(monkeypatch, caplog):
    for what in ("MAX_RETRIES", "BACKOFF_FACTOR", "TIMEOUT"):
        key = f"MLFLOW_HTTP_REQUEST_{what}"
        monkeypatch.setenv(key, "1")  # recorded as unset: the test leaves no MLFLOW_* behind
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    t0 = time.perf_counter()
    with caplog.at_level(logging.DEBUG):
        t = tracking.Run()
        t.start("x", {"a": 1}, {})
        t.log_metrics({"loss": 1.0}, step=1)
        t.finish()
    assert time.perf_counter() - t0 < 20  # MLflow's defaults: about 4 minutes
    shown = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(shown) == 1 and "MLflow tracking failed" in shown[0].getMessage()
    assert "\n" not in shown[0].getMessage()


def test_one_line_keeps_the_sql_error_not_the_statement():
    from sqlalchemy.exc import OperationalError

    exc = OperationalError("INSERT INTO runs VALUES (?)", ("x",), Exception("readonly database"))
    text = one_line(RuntimeError(f"(raised as a result of Query-invoked)\n{exc}"))
    assert text == "(builtins.Exception) readonly database"


# --- item 5: no run is left RUNNING; Ctrl-C is one line --------------------------------------


def test_ctrl_c_is_one_line_saying_where_it_stopped(capsys):
    def body():
        raise KeyboardInterrupt

    rc = stage.run("train", body, on_interrupt=lambda: "`dvc repro` resumes after epoch 2")
    assert rc == 130
    assert (
        capsys.readouterr().err == "train: stopped by Ctrl-C; `dvc repro` resumes after epoch 2\n"
    )


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_a_fresh_training_run_marks_the_one_it_supersedes_killed(store, tmp_path):
    from mlflow.tracking import MlflowClient

    old = tracking.Run()
    old.start("old", {"train.lr_g": 0.002}, {})  # then SIGKILLed: stays RUNNING
    resume_file = tmp_path / "checkpoints" / "mlflow_run.json"
    tracking.write_run_file(resume_file, old)
    prior = tracking.read_run_id(resume_file)
    resume_file.unlink()  # what a fresh start (changed params) does to the checkpoints

    new = tracking.Run()
    new.start_training([], {"train.lr_g": 0.001}, tmp_path / "run.json", resume_file, prior)
    client = MlflowClient(store)
    assert client.get_run(old.run_id).info.status == "KILLED"
    assert client.get_run(old.run_id).data.tags["superseded_by"] == new.run_id
    assert client.get_run(new.run_id).info.status == "RUNNING"


def test_sigterm_inside_an_mlflow_write_waits_for_it_then_stops(store):
    """SIGTERM while MLflow's store writes (here: just after its first SQL statement): the
    write completes, then the stage stops, and the run is marked KILLED. Cut half-way, the
    write was lost, and a stop inside the store's transaction could leave the run RUNNING."""
    import signal

    from mlflow.tracking import MlflowClient
    from sqlalchemy import event

    run = tracking.Run()
    run.start("t", {}, {})
    engine = run.client._tracking_client.store.engine
    sent = []

    def sigterm_once(*args):  # SQLAlchemy calls this after each SQL statement
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, stage._terminate)
    event.listen(engine, "after_cursor_execute", sigterm_once)
    try:
        with pytest.raises(stage.Terminated):
            run.log_metrics({"val_l1": 0.25}, step=3)
    finally:
        event.remove(engine, "after_cursor_execute", sigterm_once)
        signal.signal(signal.SIGTERM, previous)
    assert sent and run.enabled
    run.finish("KILLED")
    got = MlflowClient(store).get_run(run.run_id)
    assert got.info.status == "KILLED"
    assert got.data.metrics == {"val_l1": 0.25}


def test_holding_sigterm_raises_it_as_the_block_ends_and_not_before():
    import signal

    done = []
    previous = signal.signal(signal.SIGTERM, stage._terminate)
    try:
        with pytest.raises(stage.Terminated):
            with stage.holding_sigterm():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("inside, after the signal")
            done.append("after the block")
        with pytest.raises(stage.Terminated):  # outside a block it stops at once
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("outside, after the signal")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert done == ["inside, after the signal"]


# --- item 9: a copied workspace never writes artifacts into the original ---------------------


@pytest.fixture
def copied_workspace(tmp_path, monkeypatch):
    """(original, its `cp -a` copy, the copy's MLflow client): the copy's mlflow.db was
    created by the original workspace, so it names the original's artifact folder."""
    from mlflow.tracking import MlflowClient

    original, copy = tmp_path / "original", tmp_path / "copy"
    copy.mkdir()
    client = MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    client.create_experiment("deblurflow", artifact_location=(original / "mlartifacts").as_uri())
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(copy))
    return original, copy, client


def test_copied_store_does_not_write_artifacts_into_the_original(
    copied_workspace, tmp_path, caplog
):
    original, _, client = copied_workspace
    (tmp_path / "eval.json").write_text("{}")
    t = tracking.Run()
    with caplog.at_level(logging.WARNING):
        t.start("run", {"a": 1}, {})
        t.log_artifact(tmp_path / "eval.json")
        t.log_metrics({"test_psnr": 30.0})
    assert not original.exists()
    assert client.get_run(t.run_id).data.metrics == {"test_psnr": 30.0}
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "copied or moved workspace" in warned[0]


def test_a_copied_workspace_logs_no_model_into_the_original(copied_workspace, tmp_path, caplog):
    """Issue 23 item 1: evaluate's log_model wrote best.pt, MLmodel and code/ into the
    original's mlartifacts/; the copy now skips the model, with the same one warning."""
    original, _, client = copied_workspace
    model = ModelParams(generator="resnet", channels=4, res_blocks=1, d_channels=4)
    save_generator(tmp_path / "best.pt", build_generator(model), model, epoch=1)
    run = tracking.Run()
    with caplog.at_level(logging.WARNING):
        run.start("copy", {"a": 1}, {})
        version = log_generator(run, tmp_path / "best.pt", {"test_psnr": 30.0})
    assert version is None and not original.exists()  # nothing outside the copy
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "artifacts are not logged" in warned[0]
    assert client.search_registered_models() == []


# --- item 8: a refused resume names the keys and values that changed --------------------------


def test_resume_refusal_names_the_changed_keys_and_values(tmp_path, caplog):
    key = {"seed": 0, "train": {"lr_g": 0.002, "crop": 64}, "data": "abc", "code": "c1"}
    torch.save({"format": CHECKPOINT_FORMAT, "key": key}, tmp_path / "last.pt")
    new = {"seed": 0, "train": {"lr_g": 0.001, "crop": 64}, "data": "abd", "code": "c1"}
    with caplog.at_level(logging.WARNING):
        assert load_resumable(tmp_path, new, torch.device("cpu")) is None
    message = caplog.records[-1].getMessage()
    assert "train.lr_g 0.002 -> 0.001" in message
    assert "data (fingerprint abc -> abd)" in message
    assert "crop" not in message and "seed" not in message


# --- item 6: a corrupt finished download is not reused -----------------------------------------


def test_truncated_download_is_moved_aside_and_fetched_again(tmp_path, caplog):
    good = tmp_path / "src" / "GOPRO_Large_all.zip"
    good.parent.mkdir()
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("train/S/000001.png", b"x" * 5000)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / good.name).write_bytes(good.read_bytes()[:3000])  # killed mid-way, renamed
    with caplog.at_level(logging.WARNING):
        got = download(good.as_uri(), downloads)
    assert got.read_bytes() == good.read_bytes()
    assert (downloads / f"{good.name}.corrupt").stat().st_size == 3000
    assert "not a readable zip archive" in caplog.text


def test_failed_download_does_not_claim_a_part_file_it_does_not_have(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/GOPRO_Large_all.zip"
    with pytest.raises(SourceError) as info:
        download(url, tmp_path, retries=0)
    assert not list(tmp_path.glob("*.part"))
    assert "is kept" not in str(info.value) and "nothing was downloaded" in str(info.value)


# --- item 7 (this part): a refused pickle is one line ----------------------------------


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_weights_only_refusal_is_one_line(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "x", "obj": _Evil()}, path)
    with pytest.raises(ModelFileError) as info:
        load_generator(path)
    assert "\n" not in str(info.value)
    assert "refused" in str(info.value) and "system" in str(info.value)


_FINALIZER_STAGE = """
import os, signal, sys
from deblurflow import stage

class SigtermInFinalizer:  # the handler runs inside __del__, where Python drops exceptions
    def __del__(self):
        signal.raise_signal(signal.SIGTERM)

class BrokenFinalizer:  # a library object the interrupt left half-updated
    def __del__(self):
        raise KeyError("state the interrupt cut short")

def body():
    if sys.argv[1] == "lost":
        SigtermInFinalizer()
        for step in range(3):
            stage.check_terminated()  # the training loop's per-step check
            print("step", step)
        return 0
    kept = BrokenFinalizer()  # collected while the stop is handled
    os.kill(os.getpid(), signal.SIGTERM)
    print("not reached", kept)

sys.exit(stage.run("train", body, on_interrupt=lambda: "epochs 1-2 are saved"))
"""


@pytest.mark.parametrize("case", ["lost", "broken"])
def test_sigterm_near_a_finalizer_is_still_one_line(case):
    """A SIGTERM whose handler runs inside a finalizer is not lost (the next per-step check
    raises it), and a finalizer that fails after the stop adds no traceback."""
    proc = subprocess.run([sys.executable, "-c", _FINALIZER_STAGE, case], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 143, proc.stderr
    assert "step" not in proc.stdout and "not reached" not in proc.stdout
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == "train: stopped by SIGTERM; epochs 1-2 are saved"
