"""One MLflow run per pipeline execution, shared by train, select and evaluate: ``Run``.

The default store needs no server: ``sqlite:///<repo root>/mlflow.db`` with artifacts in
``<repo root>/mlartifacts`` (``repo.repo_root``). ``MLFLOW_TRACKING_URI`` overrides the store
(a team server).

Lifecycle: train starts the run (``Run.for_training``: a new one, or the one a killed training
was in) and leaves it RUNNING; select and evaluate continue it (``Run.for_stage``), evaluate ends
it FINISHED; a failing stage ends it FAILED, an interrupted one KILLED (``finish(status)``).
The run id travels in ``models/mlflow_run.json`` (``write_run_file`` / ``read_run_id``).

A tracking failure never loses training: the first failure is reported once, clearly, and every
later call becomes a no-op, while the DVC metrics files are written as usual.
mlflow is imported lazily so the training code also runs where mlflow is not installed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import atomic
from ..repo import repo_root
from ..stage import holding_sigterm
from . import state
from .faults import artifact_mismatch, bound_http_and_logs, one_line

log = logging.getLogger(__name__)

EXPERIMENT = "deblurflow"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
#: marks a model-training (not GenAI) experiment; MLflow 3's UI itself picks its view from
#: ``?workflowType=`` in the URL or the browser's stored choice (README, "Compare runs")
EXPERIMENT_KIND = "custom_model_development"
#: system metrics (CPU, memory, GPU) every this many seconds: a few dozen points per run
SYSTEM_METRICS_INTERVAL_S = 15.0


def tracking_uri(root: Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI, else the workspace's own ``sqlite:///ROOT/mlflow.db``."""
    return (
        os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root or repo_root()) / 'mlflow.db'}"
    )


class Run:
    """One MLflow run, failure-tolerant: ``enabled=False`` (or a failure) makes it do nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.run_id: str | None = None
        self.artifacts = True  #: False when the store's artifact folder is not this workspace's
        self.client: Any = None

    # --- start, resume, finish ---------------------------------------------------------------

    def safe(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, or None after reporting its failure once (tracking is then off). A SIGTERM
        waits for ``fn`` to return: a store write cut half-way could not record the stop."""
        if not self.enabled:
            return None
        try:
            with holding_sigterm():
                return fn()
        except Exception as exc:  # noqa: BLE001 - any tracking failure must not stop training
            self.enabled = False
            log.warning(
                "MLflow tracking failed while %s (%s: %s); tracking is off for the rest of this "
                "stage, training and the DVC metrics files are not affected",
                what, type(exc).__name__, one_line(exc),
            )  # fmt: skip
            return None

    def _connect(self) -> tuple[Any, str, str]:
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
        self.client = client
        return client, exp_id, uri

    def start(self, run_name: str | None, params: dict[str, Any], tags: dict[str, str]) -> None:
        """A new run named ``run_name`` with ``params`` (flattened) and ``tags``."""

        def go() -> None:
            client, exp_id, uri = self._connect()
            run = client.create_run(exp_id, run_name=run_name, tags=tags)
            self.run_id = run.info.run_id
            from mlflow.entities import Param

            items = [Param(k, str(v)) for k, v in params.items()]
            for i in range(0, len(items), 100):  # MLflow caps params per batch call
                client.log_batch(self.run_id, params=items[i : i + 100])
            log.info("MLflow run %s (%s) in %s", self.run_id, run_name, uri)

        self.safe("starting the run", go)

    def attach(self, run_id: str | None) -> None:
        """Continue an existing run; none given switches tracking off."""
        if not run_id:
            self.enabled = False
            return

        def go() -> None:
            client, _, _ = self._connect()
            client.get_run(run_id)  # fails clearly if the store does not hold it
            self.run_id = run_id

        self.safe(f"opening run {run_id}", go)

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status``. Tried even when an earlier failure switched logging off
        (one more attempt, within the capped retries): a run nobody closes stays RUNNING."""
        if not self.run_id or self.client is None:
            return
        was_enabled, self.enabled = self.enabled, True
        self.safe("closing the run", lambda: self.client.set_terminated(self.run_id, status))
        self.enabled = was_enabled and self.enabled

    def end_superseded(self, run_id: str) -> None:
        """Mark ``run_id`` KILLED when it is still RUNNING: a fresh training run replaces it (its
        checkpoints were of other params or code), so it will never finish."""

        def go() -> None:
            client = self.client or self._connect()[0]
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_tag(run_id, "superseded_by", self.run_id or "")
                client.set_terminated(run_id, "KILLED")
                log.info("MLflow run %s was left RUNNING by a stopped training: marked KILLED",
                         run_id)  # fmt: skip

        self.safe(f"closing the superseded run {run_id}", go)

    # --- log -----------------------------------------------------------------------------------

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        def go() -> None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
            self.client.log_batch(self.run_id, metrics=batch)

        if self.run_id:
            self.safe("logging metrics", go)

    def logged_steps(self, key: str) -> set[int]:
        """Steps at which ``key`` was logged in this run (empty when tracking is off)."""
        if not self.run_id:
            return set()
        history = self.safe(
            f"reading {key}", lambda: self.client.get_metric_history(self.run_id, key)
        )
        return {m.step for m in history or []}

    def set_tags(self, tags: dict[str, str]) -> None:
        if self.run_id:
            self.safe(
                "setting tags",
                lambda: [self.client.set_tag(self.run_id, k, v) for k, v in tags.items()],
            )

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.run_id and self.artifacts and Path(path).exists():
            self.safe(
                f"logging artifact {path}",
                lambda: self.client.log_artifact(self.run_id, str(path), artifact_path),
            )

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        if self.run_id and self.artifacts and Path(folder).is_dir():
            self.safe(
                f"logging artifacts {folder}",
                lambda: self.client.log_artifacts(self.run_id, str(folder), artifact_path),
            )

    def log_image(self, image: Any, artifact_file: str) -> None:
        """A uint8 RGB (H, W, 3) array as a PNG artifact of the run."""
        if self.run_id and self.artifacts:
            self.safe(
                f"logging image {artifact_file}",
                lambda: self.client.log_image(self.run_id, image, artifact_file=artifact_file),
            )

    def describe(self) -> None:
        """Mark the run's experiment as a model-training experiment (MLflow 3 UI)."""
        if self.run_id:
            self.safe(
                "tagging the experiment",
                lambda: self.client.set_experiment_tag(
                    self.client.get_run(self.run_id).info.experiment_id,
                    EXPERIMENT_KIND_TAG,
                    EXPERIMENT_KIND,
                ),
            )

    def log_dataset(self, data_dir: str | Path, md5: str | None) -> None:
        """The prepared data as the run's training input (MLflow's Datasets), with its DVC md5."""

        def go() -> None:
            from mlflow.entities import Dataset, DatasetInput, InputTag

            source = {"uri": Path(data_dir).resolve().as_uri(), "dvc_md5": md5}
            dataset = Dataset(
                name=Path(data_dir).name,
                digest=(md5 or "unknown").removesuffix(".dir")[:36],
                source_type="local",
                source=json.dumps(source),
            )
            context = InputTag("mlflow.data.context", "training")
            self.client.log_inputs(self.run_id, [DatasetInput(dataset, [context])])

        if self.run_id:
            self.safe("logging the dataset", go)

    @contextlib.contextmanager
    def system_metrics(self) -> Iterator[None]:
        """MLflow's system metrics (CPU, memory, disk, GPU) logged into the run while inside."""
        monitor = None
        if self.run_id:

            def start() -> Any:
                from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

                m = SystemMetricsMonitor(
                    self.run_id,
                    sampling_interval=SYSTEM_METRICS_INTERVAL_S,
                    resume_logging=True,  # select/evaluate continue train's step count
                    tracking_uri=tracking_uri(),
                )
                m.start()
                return m

            monitor = self.safe("starting system metrics", start)
        try:
            yield
        finally:
            if monitor is not None:
                self.safe("stopping system metrics", monitor.finish)

    # --- the pipeline's stages -------------------------------------------------------------------

    def start_training(
        self,
        history: list[dict[str, float]],
        params: dict[str, Any],
        run_file: str | Path,
        resume_file: str | Path,
        prior_run_id: str | None = None,
        name: str | None = None,
    ) -> None:
        """The train stage's run: continue the one a killed training was in, else start one.

        ``history`` is the resumed training history (empty for a fresh start). ``resume_file``
        is a copy of the run file kept inside the persisted checkpoints folder: when training
        resumes, the run it names is continued (tagged ``resumed_from_epoch``, with the epoch
        metrics a kill may have lost logged again). A new run is named ``name`` (default
        ``$DVC_EXP_NAME``) and gets the flattened ``params`` and ``state.run_tags()``. Both
        files then record the run id. ``prior_run_id`` (read from ``resume_file`` before the
        training cleared it) is marked KILLED when a fresh run supersedes it while RUNNING.
        """
        resumed_from = int(history[-1]["epoch"]) if history else 0
        previous = read_run_id(resume_file, quiet=True) if resumed_from else None
        if previous:
            self.attach(previous)
            self.set_tags({"resumed_from_epoch": str(resumed_from)})
            # A kill between the checkpoint and the MLflow log loses that epoch's metrics.
            logged = self.logged_steps("val_l1")
            for row in history:
                if int(row["epoch"]) not in logged:
                    self.log_metrics(epoch_metrics(row), int(row["epoch"]))
        if not self.run_id and self.enabled:
            self.start(name or os.environ.get("DVC_EXP_NAME"), params, state.run_tags())
        if prior_run_id and prior_run_id != self.run_id and self.enabled:
            self.end_superseded(prior_run_id)
        write_run_file(run_file, self)
        write_run_file(resume_file, self)


@contextlib.contextmanager
def stage_run(run_file: str | Path, finish: bool) -> Iterator[Run]:
    """The pipeline's run for a later stage (select, evaluate), with system metrics.

    A failure inside marks the run FAILED (an interruption KILLED) and re-raises; with
    ``finish`` a clean exit marks it FINISHED (evaluate: the pipeline is done).
    """
    run = Run()
    run.attach(read_run_id(run_file))
    try:
        with run.system_metrics():
            yield run
    except BaseException as exc:
        run.finish("FAILED" if isinstance(exc, Exception) else "KILLED")
        raise
    if finish:
        run.finish("FINISHED")


def epoch_metrics(row: dict[str, float]) -> dict[str, float]:
    """A history row as MLflow metrics; epoch loss means are epoch_loss_* (steps own loss_*)."""
    return {
        (f"epoch_{k}" if k.startswith("loss_") else k): v
        for k, v in row.items()
        if k not in ("epoch", "step")
    }


def write_run_file(path: str | Path, run: Run) -> None:
    atomic.write_json(
        path,
        {
            "run_id": run.run_id,
            "tracking_uri": tracking_uri() if run.run_id else None,
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
