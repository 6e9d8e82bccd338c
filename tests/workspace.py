"""A git + DVC copy of this repo in a temp folder, for the end-to-end tests and bench/pipeline.py.

Plain functions (no pytest): the benchmark imports them too. The copy holds the repo's tracked
and untracked-but-not-ignored files minus tests/ and bench/, with the given params.yaml,
committed, so `dvc repro` there runs exactly this checkout's stages. ``TINY`` is the params
override for a full `dvc repro` of seconds on the embedded sample, shared by the tests that
run one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  #: the venv's bin/, where dvc and the stages' python live
STAGES = ["download", "synthesize", "prepare", "train", "select", "evaluate"]

#: over params.yaml: a tiny sample, 4-channel models, 2 epochs of 2 steps, no real pairs
TINY = {
    "data": {"sample": {"train_sequences": 3, "test_sequences": 1, "frames": 21,
                        "width": 96, "height": 64}},
    "blur": {"workers": 1},
    "prepare": {"size": 96, "val_sequences": 1},
    "model": {"channels": 4, "res_blocks": 1, "d_channels": 4},
    "train": {"epochs": 2, "batch_size": 2, "crop": 32, "steps_per_epoch": 2, "log_every": 1},
    "evaluate": {"samples": 2, "real_pairs": []},
}  # fmt: skip


class CommandError(RuntimeError):
    """A command in the workspace exited with an error; the message ends with its output."""


def merge(base: dict, over: dict) -> dict:
    """``base`` with ``over`` applied recursively (nested dicts merged, other values replaced)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without MLFLOW_*/DVC_* settings, the venv first on PATH, a git identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@localhost",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@localhost",
        DVC_NO_ANALYTICS="1",
    )  # fmt: skip
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float | None = 600) -> str:
    """Output (stdout + stderr) of a command that must succeed."""
    return timed_run(cmd, cwd, env, timeout)[1]


def timed_run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float | None = 600
) -> tuple[float, str]:
    """(seconds, output) of a command that must succeed; CommandError names it otherwise."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise CommandError(f"{' '.join(map(str, cmd))} failed in {cwd}:\n{out[-4000:]}")
    return seconds, out


def copy_repo(dest: Path, params: dict, env: dict[str, str]) -> Path:
    """Copy this checkout (no tests/, bench/) into ``dest`` with ``params`` and commit it."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in files:
        src = REPO / name
        if src.is_file() and not name.startswith(("tests/", "bench/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], dest, env)
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "workspace"], dest, env)
    return dest


def ran(output: str) -> list[str]:
    """The pipeline stages a `dvc repro` / `dvc exp run` output says it ran, in order."""
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def repo_params() -> dict:
    """This checkout's params.yaml as a plain dict."""
    return yaml.safe_load((REPO / "params.yaml").read_text())
