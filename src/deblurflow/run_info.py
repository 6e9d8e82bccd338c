"""What makes MLflow runs readable: names, MLflow's standard tags, the experiment's kind,
system metrics and the run's status across the train -> select -> evaluate stages.

- Name: ``$DVC_EXP_NAME`` (DVC sets it for every ``dvc exp run``, queued or not), else the
  params that differ from the committed params.yaml (``lambda_pix=50 train.lr_g=0.001``), else
  ``params@<commit>`` for a plain ``dvc repro`` of the committed params.
- Tags: ``mlflow.source.name``/``type``, ``mlflow.source.git.commit``/``branch``/``repoURL``
  and ``mlflow.user`` are the ones MLflow's UI shows as Source, Version and User.
- Experiment kind: the experiment tag ``mlflow.experimentKind = custom_model_development``
  marks a model-training (not GenAI) experiment. MLflow 3.17.2's UI does not read it to pick
  its view: that comes from ``?workflowType=`` in the URL, else the browser's stored choice
  (localStorage ``mlflow.workflowType_v1``), else GenAI, and no server setting changes it
  (README, "Compare runs in MLflow"; tests/test_mlflow_ui.py).
- Status: train leaves its run RUNNING, evaluate ends it FINISHED; a failing (or interrupted)
  select or evaluate marks it FAILED (KILLED), as train already does.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from deblurflow import tracking

log = logging.getLogger(__name__)

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: system metrics (CPU, memory, GPU) every this many seconds: a few dozen points per run
SYSTEM_METRICS_INTERVAL_S = 15.0


def _git(*args: str, cwd: str | Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
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
    commit = _git("rev-parse", "--short", "HEAD", cwd=params_file.parent.resolve())
    committed_text = _git("show", f"HEAD:./{params_file.name}", cwd=params_file.parent.resolve())
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
        "mlflow.source.git.commit": _git("rev-parse", "HEAD"),
        "mlflow.source.git.branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "mlflow.source.git.repoURL": _git("config", "--get", "remote.origin.url"),
    }
    return {k: v for k, v in tags.items() if v}


def _safe_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def describe(tracker: tracking.Tracker) -> None:
    """Mark the run's experiment as a model-training experiment (MLflow 3 UI)."""
    if tracker.run_id:
        tracker._safe(
            "tagging the experiment",
            lambda: tracker._client.set_experiment_tag(
                tracker._client.get_run(tracker.run_id).info.experiment_id,
                EXPERIMENT_KIND_TAG,
                EXPERIMENT_KIND,
            ),
        )


def log_dataset(tracker: tracking.Tracker, data_dir: str | Path, md5: str | None) -> None:
    """The prepared data as the run's training input (MLflow's Datasets), with its DVC md5."""

    def go() -> None:
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        source = {"uri": Path(data_dir).resolve().as_uri(), "dvc_md5": md5}
        dataset = Dataset(
            name=Path(data_dir).name,
            digest=(md5 or "unknown").removesuffix(".dir")[:36],
            source_type="local",
            source=json.dumps(source),
        )
        context = InputTag("mlflow.data.context", "training")
        tracker._client.log_inputs(tracker.run_id, [DatasetInput(dataset, [context])])

    if tracker.run_id:
        tracker._safe("logging the dataset", go)


@contextlib.contextmanager
def system_metrics(tracker: tracking.Tracker) -> Iterator[None]:
    """MLflow's system metrics (CPU, memory, disk, GPU) logged into the run while inside."""
    monitor = None
    if tracker.run_id:

        def start() -> Any:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            m = SystemMetricsMonitor(
                tracker.run_id,
                sampling_interval=SYSTEM_METRICS_INTERVAL_S,
                resume_logging=True,  # select/evaluate continue train's step count
                tracking_uri=tracking.tracking_uri(tracking.repo_root()),
            )
            m.start()
            return m

        monitor = tracker._safe("starting system metrics", start)
    try:
        yield
    finally:
        if monitor is not None:
            tracker._safe("stopping system metrics", monitor.finish)


@contextlib.contextmanager
def ends_run(run_file: str | Path, finish: bool) -> Iterator[tracking.Tracker]:
    """A tracker attached to the pipeline's run for a later stage (select, evaluate).

    A failure inside marks the run FAILED (an interruption KILLED) and re-raises; with
    ``finish`` a clean exit marks it FINISHED (evaluate: the pipeline is done).
    """
    tracker = tracking.Tracker()
    tracker.attach(tracking.read_run_id(run_file))
    try:
        with system_metrics(tracker):
            yield tracker
    except BaseException as exc:
        tracker.finish("FAILED" if isinstance(exc, Exception) else "KILLED")
        raise
    if finish:
        tracker.finish("FINISHED")
