"""Issue 11, slow half: a bad param under real `dvc repro` / `dvc exp run`, SIGTERM and SIGKILL
of real writers, a really full disk (a small tmpfs in a private mount namespace) and a
read-only MLflow store (the same tmpfs remounted read-only)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from workspace import BIN, TINY, CommandError, clean_env, copy_repo, merge, repo_params, run

from deblurflow import stage

pytestmark = pytest.mark.slow

KEPT = ["models/mlflow_run.json", "metrics/train_history.csv", "models/checkpoints/last.pt"]


def _can_mount() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="no private mount namespace here")


def in_tmpfs(disk: Path, size: str, script: str, *args: str, read_only_after: str = ""):
    """Run ``script`` with python in a private mount namespace where ``disk`` is a tmpfs of
    ``size``; ``read_only_after``: a script run first, after which the tmpfs is made read-only."""
    disk.mkdir()
    py = [sys.executable, "-c", textwrap.dedent(script), str(disk), *args]
    shell = f"mount -t tmpfs -o size={size} none {shlex.quote(str(disk))} && "
    if read_only_after:
        pre = [sys.executable, "-c", textwrap.dedent(read_only_after), str(disk)]
        shell += f"{' '.join(map(shlex.quote, pre))} && mount -o remount,ro {disk} && "
    # The script's exit status, after listing what it left on the disk (on stdout).
    shell += " ".join(map(shlex.quote, py)) + f"; rc=$?; ls -A {disk}; exit $rc"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", shell], capture_output=True, text=True, timeout=300
    )


# --- item 1: a bad param never costs finished work -------------------------------------------


def test_bad_param_or_unknown_section_stops_before_dvc_deletes_outputs(tmp_path):
    if not (BIN / "dvc").exists():
        pytest.skip("dvc is not installed next to this Python")
    env = clean_env(PYTHONUNBUFFERED="1")
    ws = copy_repo(tmp_path, merge(repo_params(), TINY), env)
    dvc = str(BIN / "dvc")
    run([dvc, "repro"], ws, env)
    before = {p: (ws / p).read_bytes() for p in KEPT}

    with pytest.raises(CommandError) as info:
        run([dvc, "exp", "run", "-S", "train.epochs=abc"], ws, env)
    assert "'train.epochs' must be int, got 'abc'" in str(info.value)
    assert {p: (ws / p).read_bytes() for p in KEPT} == before
    run(["git", "checkout", "params.yaml"], ws, env)

    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["trian"] = {"epochs": 3}
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(CommandError) as info:
        run([dvc, "repro"], ws, env)
    assert "unknown key 'trian' (did you mean 'train'?)" in str(info.value)
    assert {p: (ws / p).read_bytes() for p in KEPT} == before

    run(["git", "checkout", "params.yaml"], ws, env)
    out = run([dvc, "repro"], ws, env)
    assert "Running stage 'train'" not in out  # the finished model is not trained again
    assert {p: (ws / p).read_bytes() for p in KEPT} == before


# --- items 2 and 5: kills --------------------------------------------------------------------


def test_sigkill_mid_save_keeps_the_old_file_and_the_next_start_removes_the_debris(tmp_path):
    target = tmp_path / "checkpoints" / "last.pt"
    target.parent.mkdir()
    target.write_bytes(b"epoch 1")
    writer = """
        import sys, time
        from deblurflow import atomic
        with atomic.atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as f:
            f.write(b"half of epoch 2"); f.flush()
            print("writing", flush=True)
            time.sleep(60)
    """
    env = {**os.environ, "PYTHONPATH": str(Path(stage.__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(writer), str(target)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout.readline() == "writing\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (debris,) = target.parent.glob(".last.pt.*.tmp")
    assert target.read_bytes() == b"epoch 1"

    assert stage.run("train", lambda: None, clean=[target.parent]) == 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.pt"]


def test_sigterm_marks_the_run_killed_and_says_where_training_stopped(
    tmp_path, make_prepared, repo
):
    data = make_prepared({"train": 6, "val": 2, "test": 2})
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["model"].update(channels=4, res_blocks=1, d_channels=4)
    params["train"].update(epochs=50, batch_size=2, crop=32, steps_per_epoch=20, log_every=10)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ckpt = tmp_path / "checkpoints"
    cmd = [
        sys.executable, str(repo / "stages" / "train.py"),
        "--params", str(tmp_path / "params.yaml"), "--data", str(data), "--checkpoints", str(ckpt),
        "--history", str(tmp_path / "history.csv"), "--run-file", str(tmp_path / "run.json"),
        "--plot", str(tmp_path / "curves.png"),  # not the default metrics/ of the repo
    ]  # fmt: skip
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = subprocess.Popen(
        cmd, env=dict(os.environ, MLFLOW_TRACKING_URI=uri), stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 180
    while not (ckpt / "history.json").exists():
        assert proc.poll() is None and time.time() < deadline, "no epoch finished in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err[-3000:]
    done = json.loads((ckpt / "history.json").read_text())[-1]["epoch"]
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"train: stopped by SIGTERM; epochs 1-{done} are saved in {ckpt}; "
        f"`dvc repro` resumes after epoch {done}"
    )
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    (run_,) = client.search_runs([client.get_experiment_by_name("deblurflow").experiment_id])
    assert run_.info.status == "KILLED", err[-3000:]  # a tracking warning says why not


# --- item 3: a full disk ---------------------------------------------------------------------


@needs_mount
def test_full_disk_in_prepare_is_one_line_and_leaves_nothing(tmp_path):
    script = """
        import sys
        import numpy as np
        from pathlib import Path
        from deblurflow import stage
        from deblurflow.prepared import write_prepared

        frames = np.zeros((20, 180, 320, 3), np.uint8)  # 3.5 MB per array, 4 arrays
        splits = {"train": (frames, frames), "test": (frames, frames)}
        out = Path(sys.argv[1]) / "prepared"
        sys.exit(stage.run("prepare", lambda: write_prepared(out, splits)))
    """
    proc = in_tmpfs(tmp_path / "disk", "4m", script)
    assert proc.returncode == 1, proc.stderr[-2000:]  # the old code died of SIGBUS
    line = f"prepare: error: no space left on device at {tmp_path / 'disk' / 'prepared'}"
    assert proc.stderr.splitlines() == [proc.stderr.splitlines()[0]]
    assert proc.stderr.startswith(line + ", needed ~14 MB (4 MB free)")
    assert proc.stdout == ""  # `ls -A` of the tmpfs afterwards: no temp folder left


@needs_mount
def test_full_disk_during_a_checkpoint_save_is_one_line(tmp_path):
    script = """
        import sys
        from pathlib import Path
        from deblurflow import stage
        from deblurflow.params import Params
        from deblurflow.runtime import pick_runtime
        from deblurflow.training.checkpoint import write_epoch
        from deblurflow.training.loop import build_models

        params, ckpt = Params(), Path(sys.argv[1])
        m = build_models(params, pick_runtime("cpu", "fp32"))
        row = {"epoch": 1, "val_l1": 0.1, "val_psnr": 20.0, "val_ssim": 0.5}
        save = lambda: write_epoch(ckpt, 1, 9, {}, params, m.gen, m.disc, m.opt_g, m.opt_d, [row])
        sys.exit(stage.run("train", save, (RuntimeError,)))
    """
    proc = in_tmpfs(tmp_path / "disk", "64k", script)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"train: error: no space left on device at {tmp_path / 'disk'}/")
    assert ", needed ~" in line and " MB (" in line
    assert proc.stdout == ""  # no temp file left


# --- item 4: a read-only MLflow store is one line --------------------------------------------


@needs_mount
def test_read_only_mlflow_store_is_reported_in_one_line(tmp_path, monkeypatch):
    create = """
        import logging, sys
        logging.disable(logging.CRITICAL)  # the store's creation logs are not what is tested
        from mlflow.tracking import MlflowClient
        MlflowClient(f"sqlite:///{sys.argv[1]}/mlflow.db").create_experiment("deblurflow")
    """
    script = """
        import sys
        from deblurflow import stage, tracking
        stage.setup_logging()
        tracking.Run().start("run", {"a": 1}, {})
    """
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'disk'}/mlflow.db")
    proc = in_tmpfs(tmp_path / "disk", "16m", script, read_only_after=create)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "attempt to write a readonly database" in lines[0]
