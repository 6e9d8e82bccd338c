"""The one place that reads git and DVC state for a run: its name and its tags.

- Name: ``$DVC_EXP_NAME`` (DVC sets it for every ``dvc exp run``, queued or not), else the
  params that differ from the committed params.yaml (``lambda_pix=50 train.lr_g=0.001``), else
  ``params@<commit>`` for a plain ``dvc repro`` of the committed params.
- Tags: MLflow's standard ``mlflow.source.name``/``type``, ``mlflow.source.git.commit``/
  ``branch``/``repoURL`` and ``mlflow.user`` (its UI shows them as Source, Version and User;
  the commit is tagged there alone), and DVC's ``dvc.exp_name``, ``dvc.baseline_rev`` and
  ``data.md5`` (the prepared data's hash in dvc.lock).
"""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml


def git(*args: str, cwd: str | Path | None = None) -> str | None:
    """``git ARGS`` output, stripped; None when git or the repo is missing or it fails."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def data_hash(lock_path: str | Path = "dvc.lock", out_path: str = "data/prepared") -> str | None:
    """The md5 DVC recorded for the prepared data (identifies the exact training data)."""
    try:
        lock = yaml.safe_load(Path(lock_path).read_text()) or {}
    except (OSError, ValueError):
        return None
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == out_path:
                return out.get("md5")
    return None


def changed_params(
    current: dict[str, Any], committed: dict[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """Flattened keys whose value in ``current`` differs from ``committed`` (or is new)."""
    out: dict[str, Any] = {}
    for key, value in current.items():
        name = f"{prefix}{key}"
        old = committed.get(key) if isinstance(committed, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            out.update(changed_params(value, old, f"{name}."))
        elif value != old:
            out[name] = value
    return out


def run_name(params_file: str | Path = "params.yaml", limit: int = 120) -> str:
    """$DVC_EXP_NAME, else the params changed from the committed params.yaml, else params@SHA."""
    if os.environ.get("DVC_EXP_NAME"):
        return os.environ["DVC_EXP_NAME"]
    params_file = Path(params_file)
    folder = params_file.parent.resolve()
    commit = git("rev-parse", "--short", "HEAD", cwd=folder)
    committed_text = git("show", f"HEAD:./{params_file.name}", cwd=folder)
    try:
        current = yaml.safe_load(params_file.read_text()) or {}
        committed = yaml.safe_load(committed_text) if committed_text else None
    except (OSError, yaml.YAMLError):
        return "deblurflow"
    if committed is None:
        return f"params@{commit}" if commit else "deblurflow"
    diff = changed_params(current, committed)
    if not diff:
        return f"params@{commit}"
    name = " ".join(f"{k}={v}" for k, v in diff.items())
    return name if len(name) <= limit else name[: limit - 1] + "…"


def standard_tags(source: str) -> dict[str, str]:
    """MLflow's own source/commit/user tags (what its UI shows as Source, Version, User)."""
    tags = {
        "mlflow.source.name": source,
        "mlflow.source.type": "LOCAL",
        "mlflow.user": os.environ.get("USER") or _safe_user(),
        "mlflow.source.git.commit": git("rev-parse", "HEAD"),
        "mlflow.source.git.branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "mlflow.source.git.repoURL": git("config", "--get", "remote.origin.url"),
    }
    return {k: v for k, v in tags.items() if v}


def dvc_tags() -> dict[str, str]:
    """The DVC experiment's name and baseline and the prepared data's md5, where known."""
    tags = {
        "dvc.exp_name": os.environ.get("DVC_EXP_NAME"),
        "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV"),
        "data.md5": data_hash(),
    }
    return {k: v for k, v in tags.items() if v}


def run_tags(source: str = "dvc.yaml") -> dict[str, str]:
    """Every tag a new pipeline run gets: MLflow's standard ones and DVC's."""
    return {**standard_tags(source), **dvc_tags()}


def _safe_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
