"""Issue 23, item 2: a stopped `dvc` leaves no trainer behind (the trainer stops with its
parent, one trainer per checkpoints folder; a finished checkpoint is adopted by the next run:
tests/test_training.py). Item 1 (a copied workspace) is in tests/test_reliability.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from workspace import BIN, TINY, clean_env, copy_repo, merge, repo_params, run

from deblurflow.training.checkpoint import CheckpointError
from deblurflow.training.guard import LOCK, ancestry, checkpoint_lock, pid_alive

# --- item 2: one trainer per checkpoints folder ----------------------------------------------


def _dead_pid() -> int:
    pid = 4_000_000
    while pid_alive(pid):
        pid -= 1
    return pid


def test_a_second_trainer_is_refused_naming_the_first(tmp_path):
    first = os.getppid()  # a live process that is not this one
    (tmp_path / LOCK).write_text(f"{first}\n")
    with pytest.raises(CheckpointError) as err, checkpoint_lock(tmp_path):
        pass
    assert f"in use by another training (PID {first})" in str(err.value)
    assert "\n" not in str(err.value)
    assert (tmp_path / LOCK).read_text() == f"{first}\n"  # the first one's lock is left alone


def test_a_stale_lock_of_a_dead_trainer_is_taken_over_and_released(tmp_path):
    (tmp_path / LOCK).write_text(f"{_dead_pid()}\n")
    with checkpoint_lock(tmp_path) as lock:
        assert lock.read_text() == f"{os.getpid()}\n"
    assert not lock.exists()


# --- item 2: the trainer stops once the process that started it is gone -----------------------

# A trainer stand-in: watches its ancestry, prints it, and reports the SIGTERM the watch sends.
_WATCHED = """
import json, signal, sys, time
from deblurflow.training.guard import ParentWatch, ancestry
signal.signal(signal.SIGTERM, lambda *a: (print("SIGTERM", flush=True), sys.exit(143)))
print(json.dumps(ancestry()), flush=True)
with ParentWatch(interval_s=0.1):
    time.sleep(30)
print("not stopped", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_the_watch_sees_through_the_shell_dvc_starts_the_stage_with(tmp_path, shell):
    """DVC runs a stage as ``$SHELL -c CMD``; dash stays between dvc and the trainer (bash
    replaces itself), and outlives dvc: the watch must notice dvc itself going away."""
    script = tmp_path / "watched.py"
    script.write_text(_WATCHED)
    # the outer Python plays dvc: starts `$SHELL -c "python watched.py"`, then is killed
    dvc = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess; subprocess.run([{shell!r}, '-c', "
         f"{sys.executable!r} + ' ' + {str(script)!r}])"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    links = [tuple(link) for link in json.loads(dvc.stdout.readline())]
    assert links[-1][1] == dvc.pid  # the watched chain reaches "dvc" ...
    assert len(links) == (2 if shell == "/bin/sh" else 1)  # ... through dash, not through bash
    dvc.kill()
    dvc.wait()
    assert dvc.stdout.read().splitlines() == ["SIGTERM"]


def test_ancestry_stops_at_the_first_process_that_is_not_a_shell():
    links = ancestry()
    assert links[0] == (os.getpid(), os.getppid())
    assert all(child == parent for (_, parent), (child, _) in zip(links, links[1:]))


# --- item 2: SIGTERM to dvc stops the trainer --------------------------------------------------


def _trainers(ws: Path) -> list[int]:
    """PIDs of stages/train.py processes running in ``ws``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if any(part.endswith(b"stages/train.py") for part in cmd) and cwd == str(ws):
            found.append(int(proc.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not (BIN / "dvc").exists(), reason="dvc is not installed next to this Python")
def test_sigterm_to_dvc_stops_the_trainer_and_the_next_repro_finishes(tmp_path):
    from mlflow.tracking import MlflowClient

    # /bin/sh: DVC's shell when SHELL is unset (as on many CI runners); dash keeps itself
    # between dvc and the trainer, the harder case for the trainer's watch
    env = clean_env(PYTHONUNBUFFERED="1", SHELL="/bin/sh")
    # an epoch long enough (over 10 s at 250 crops/s) that training cannot end by itself
    # between the signal and the watch's next look
    slow_train = {"train": {"epochs": 2, "steps_per_epoch": 1500, "log_every": 50}}
    ws = copy_repo(tmp_path / "ws", merge(merge(repo_params(), TINY), slow_train), env)
    proc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=ws, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 300
    while not _trainers(ws):
        assert proc.poll() is None and time.time() < deadline, "train did not start"
        time.sleep(0.2)
    (trainer,) = _trainers(ws)
    deadline = time.time() + 120
    while not (ws / "models/checkpoints/mlflow_run.json").exists():  # its MLflow run started
        assert time.time() < deadline, "the trainer started no MLflow run"
        time.sleep(0.2)
    assert (ws / "models/checkpoints" / LOCK).read_text() == f"{trainer}\n"
    proc.send_signal(signal.SIGTERM)  # what `timeout dvc repro` and a CI cancel send
    proc.wait(timeout=60)
    deadline = time.time() + 60
    while pid_alive(trainer) and time.time() < deadline:
        time.sleep(0.2)
    output = proc.stdout.read()  # the trainer wrote into the same pipe
    assert not pid_alive(trainer), "the trainer outlived dvc"
    assert "train: stopped by SIGTERM; " in output, output[-3000:]
    assert not (ws / "models/checkpoints" / LOCK).exists()
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    (killed,) = client.search_runs([client.get_experiment_by_name("deblurflow").experiment_id])
    assert killed.info.status == "KILLED"

    again = run([str(BIN / "dvc"), "repro"], ws, env)
    assert "Running stage 'evaluate'" in again
    assert json.loads((ws / "metrics/eval.json").read_text())["test_psnr"] > 0
    lock = yaml.safe_load((ws / "dvc.lock").read_text())
    assert "train" in lock["stages"]
