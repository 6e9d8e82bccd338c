"""MLflow tracking: one run per pipeline execution, shared by train, select and evaluate.

The default store needs no server: ``sqlite:///<repo root>/mlflow.db`` with artifacts in
``<repo root>/mlartifacts``. The repo root is ``$DVC_ROOT`` when DVC sets it: inside
``dvc exp run --temp`` / ``--queue`` that still points at the main workspace, so queued runs land
in the same database even though their temp folder is deleted afterwards.
``MLFLOW_TRACKING_URI`` overrides the store (a team server).

A tracking failure never loses training: the first failure is reported once, clearly, and every
later call becomes a no-op, while the DVC metrics files are written as usual.
mlflow is imported lazily so the training code also runs where mlflow is not installed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import atomic
from .tracking_faults import artifact_mismatch, bound_http_and_logs, one_line

log = logging.getLogger(__name__)

EXPERIMENT = "deblurflow"


def repo_root(cwd: str | Path | None = None) -> Path:
    """$DVC_ROOT, else the git top level, else the current folder."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(out.stdout.strip()).resolve()
    except (OSError, subprocess.CalledProcessError):
        return Path(cwd or ".").resolve()


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


def git_commit(cwd: str | Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def data_hash(lock_path: str | Path = "dvc.lock", out_path: str = "data/prepared") -> str | None:
    """The md5 DVC recorded for the prepared data (identifies the exact training data)."""
    try:
        import yaml

        lock = yaml.safe_load(Path(lock_path).read_text()) or {}
    except (OSError, ValueError):
        return None
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == out_path:
                return out.get("md5")
    return None


def run_tags() -> dict[str, str]:
    tags = {
        "dvc.exp_name": os.environ.get("DVC_EXP_NAME"),
        "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV"),
        "git.commit": git_commit(),
        "data.md5": data_hash(),
    }
    return {k: v for k, v in tags.items() if v}


class Tracker:
    """A thin, failure-tolerant wrapper over one MLflow run. ``enabled=False`` does nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.run_id: str | None = None
        self.artifacts = True  #: False when the store's artifact folder is not this workspace's
        self._client = None

    def _safe(self, what: str, fn: Callable[[], Any]) -> Any:
        if not self.enabled:
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - any tracking failure must not stop training
            self.enabled = False
            log.warning(
                "MLflow tracking failed while %s (%s: %s); tracking is off for the rest of this "
                "stage, training and the DVC metrics files are not affected",
                what,
                type(exc).__name__,
                one_line(exc),
            )
            return None

    def _connect(self) -> Any:
        from mlflow.tracking import MlflowClient

        bound_http_and_logs()
        root = repo_root()
        team_server = os.environ.get("MLFLOW_TRACKING_URI")
        uri = tracking_uri(root)
        # A client of our own, no mlflow.set_tracking_uri(): that would also export
        # MLFLOW_TRACKING_URI and make the local store look like a team server.
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(EXPERIMENT)
        if exp is None:
            # Local store: artifacts beside mlflow.db; a server decides its own artifact store.
            artifacts = None if team_server else (root / "mlartifacts").as_uri()
            exp_id = client.create_experiment(EXPERIMENT, artifact_location=artifacts)
        else:
            exp_id = exp.experiment_id
            moved = None if team_server else artifact_mismatch(exp.artifact_location, root)
            if moved:
                log.warning(moved)
                self.artifacts = False
        self._client = client
        return client, exp_id, uri

    def start(self, run_name: str | None, params: dict[str, Any], tags: dict[str, str]) -> None:
        def go() -> None:
            client, exp_id, uri = self._connect()
            run = client.create_run(exp_id, run_name=run_name, tags=tags)
            self.run_id = run.info.run_id
            from mlflow.entities import Param

            items = [Param(k, str(v)) for k, v in params.items()]
            for i in range(0, len(items), 100):  # MLflow caps params per batch call
                client.log_batch(self.run_id, params=items[i : i + 100])
            log.info("MLflow run %s (%s) in %s", self.run_id, run_name, uri)

        self._safe("starting the run", go)

    def attach(self, run_id: str | None) -> None:
        """Continue an existing run (select and evaluate)."""
        if not run_id:
            self.enabled = False
            return

        def go() -> None:
            client, _, _ = self._connect()
            client.get_run(run_id)  # fails clearly if the store does not hold it
            self.run_id = run_id

        self._safe(f"opening run {run_id}", go)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        def go() -> None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
            self._client.log_batch(self.run_id, metrics=batch)

        if self.run_id:
            self._safe("logging metrics", go)

    def logged_steps(self, key: str) -> set[int]:
        """Steps at which ``key`` was logged in this run (empty when tracking is off)."""
        if not self.run_id:
            return set()
        history = self._safe(
            f"reading {key}", lambda: self._client.get_metric_history(self.run_id, key)
        )
        return {m.step for m in history or []}

    def set_tags(self, tags: dict[str, str]) -> None:
        if self.run_id:
            self._safe(
                "setting tags",
                lambda: [self._client.set_tag(self.run_id, k, v) for k, v in tags.items()],
            )

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.run_id and self.artifacts and Path(path).exists():
            self._safe(
                f"logging artifact {path}",
                lambda: self._client.log_artifact(self.run_id, str(path), artifact_path),
            )

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        if self.run_id and self.artifacts and Path(folder).is_dir():
            self._safe(
                f"logging artifacts {folder}",
                lambda: self._client.log_artifacts(self.run_id, str(folder), artifact_path),
            )

    def log_image(self, image: Any, artifact_file: str) -> None:
        """A uint8 RGB (H, W, 3) array as a PNG artifact of the run."""
        if self.run_id and self.artifacts:
            self._safe(
                f"logging image {artifact_file}",
                lambda: self._client.log_image(self.run_id, image, artifact_file=artifact_file),
            )

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status``. Tried even when an earlier failure switched logging off
        (one more attempt, within the capped retries): a run nobody closes stays RUNNING."""
        if not self.run_id or self._client is None:
            return
        was_enabled, self.enabled = self.enabled, True
        self._safe("closing the run", lambda: self._client.set_terminated(self.run_id, status))
        self.enabled = was_enabled and self.enabled


# --- a run that will never finish is not left RUNNING ---


def end_superseded(tracker: Tracker, run_id: str) -> None:
    """Mark ``run_id`` KILLED when it is still RUNNING: a fresh training run replaces it (its
    checkpoints were of other params or code), so it will never finish."""

    def go() -> None:
        client = tracker._client
        if client is None:
            client, _, _ = tracker._connect()
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_tag(run_id, "superseded_by", tracker.run_id or "")
            client.set_terminated(run_id, "KILLED")
            log.info("MLflow run %s was left RUNNING by a stopped training: marked KILLED", run_id)

    tracker._safe(f"closing the superseded run {run_id}", go)


def epoch_metrics(row: dict[str, float]) -> dict[str, float]:
    """A history row as MLflow metrics; epoch loss means are epoch_loss_* (steps own loss_*)."""
    return {
        (f"epoch_{k}" if k.startswith("loss_") else k): v
        for k, v in row.items()
        if k not in ("epoch", "step")
    }


def start_training_run(
    tracker: Tracker,
    history: list[dict[str, float]],
    params: dict[str, Any],
    run_file: str | Path,
    resume_file: str | Path,
    prior_run_id: str | None = None,
    name: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """The train stage's run: continue the one a killed training was in, else start a new one.

    ``history`` is the resumed training history (empty for a fresh start). ``resume_file`` is
    a copy of the run file kept inside the persisted checkpoints folder: when training resumes,
    the run it names is continued (tagged ``resumed_from_epoch``, with the epoch metrics a kill
    may have lost logged again) instead of being left dangling. A new run is named
    ``name`` (default ``$DVC_EXP_NAME``) and gets the flattened ``params``, ``extra_tags`` and
    the DVC/git/data tags. Both files then record the run id. ``prior_run_id`` (read from
    ``resume_file`` before the training cleared it) is marked KILLED when a fresh run
    supersedes it while it is still RUNNING.
    """
    resumed_from = int(history[-1]["epoch"]) if history else 0
    previous = read_run_id(resume_file, quiet=True) if resumed_from else None
    if previous:
        tracker.attach(previous)
        tracker.set_tags({"resumed_from_epoch": str(resumed_from)})
        # A kill between the checkpoint and the MLflow log loses that epoch's metrics.
        logged = tracker.logged_steps("val_l1")
        for row in history:
            if int(row["epoch"]) not in logged:
                tracker.log_metrics(epoch_metrics(row), int(row["epoch"]))
    if not tracker.run_id and tracker.enabled:
        name = name or os.environ.get("DVC_EXP_NAME")
        tracker.start(name, params, {**(extra_tags or {}), **run_tags()})
    if prior_run_id and prior_run_id != tracker.run_id and tracker.enabled:
        end_superseded(tracker, prior_run_id)
    write_run_file(run_file, tracker)
    write_run_file(resume_file, tracker)


def write_run_file(path: str | Path, tracker: Tracker) -> None:
    atomic.write_json(
        path,
        {
            "run_id": tracker.run_id,
            "tracking_uri": tracking_uri(repo_root()) if tracker.run_id else None,
            "experiment": EXPERIMENT,
        },
    )


def read_run_id(path: str | Path, quiet: bool = False) -> str | None:
    try:
        return json.loads(Path(path).read_text()).get("run_id")
    except (OSError, ValueError):
        if not quiet:
            log.warning("%s is missing or unreadable: this stage will not log to MLflow", path)
        return None
