"""What a tracking fault may cost: seconds, one line, and never another workspace's files.

MLflow's defaults retry a dead server for about 4 minutes with a log line per retry, and a
failing SQL store prints a whole SQLAlchemy traceback. ``Run`` (tracking/run.py) caps the
retries, quiets those loggers and reports the failure once, in the one line ``one_line`` keeps.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

# A dead tracking server costs seconds, not MLflow's default 7 retries with backoff 2 (about
# 4 minutes) of 120 s timeouts; a user's own MLFLOW_HTTP_* settings win.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
# Libraries that log every retry or a whole traceback of a failure that Run reports in
# one line of its own.
NOISY_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "mlflow.store.db.utils")


def bound_http_and_logs() -> None:
    """Cap MLflow's HTTP retries and timeouts (unless set) and quiet the libraries' retry logs."""
    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


_NOISE = ("(raised as a result of", "[SQL:", "[parameters:", "(Background on this error")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The line of an exception's message that says what went wrong (SQLAlchemy's and
    MLflow's messages span many), at most ``limit`` characters."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(_NOISE)] or lines or [type(exc).__name__]
    text = useful[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def artifact_mismatch(location: str | None, root: Path) -> str | None:
    """Why the local store's artifact folder is not ``root/mlartifacts``, or None.

    mlflow.db records an absolute artifact folder when the experiment is created: in a copied
    or moved workspace it still points at the original one, whose folder would receive this
    run's artifacts."""
    if not location:
        return None
    expected = (root / "mlartifacts").resolve()
    path = Path(location.removeprefix("file://")) if location.startswith(("/", "file:")) else None
    if path is not None and path.resolve() == expected:
        return None
    return (
        f"{root / 'mlflow.db'} keeps its artifacts in {location}, not in {expected} (a copied "
        "or moved workspace?): this run's artifacts are not logged, its params and metrics are; "
        "move mlflow.db aside to start a store of this workspace's own"
    )
