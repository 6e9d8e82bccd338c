"""MLflow tracking around one run object, ``Run``.

- ``run``: ``Run`` (start or resume, log, finish with a status), the run file, the store's URI;
- ``state``: the one place that reads git and DVC (run names, MLflow's standard tags);
- ``registry``: the selected generator as a registered MLflow Model, and back for predict;
- ``faults``: what a tracking fault may cost (bounded retries, one line).
"""

from .run import Run, epoch_metrics, read_run_id, stage_run, tracking_uri, write_run_file

__all__ = ["Run", "epoch_metrics", "read_run_id", "stage_run", "tracking_uri", "write_run_file"]
