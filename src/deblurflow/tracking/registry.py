"""The selected generator as an MLflow Model in the model registry, and back for ``predict``.

evaluate logs ``models/best.pt`` with ``mlflow.pytorch.log_model`` (MLflow 3 API: a
LoggedModel with a signature, an input example, the package's code so ``mlflow.pytorch
.load_model`` works anywhere, and best.pt itself as an extra file), registers it as a new
version of ``deblurflow-generator`` (one per pipeline run) and tags that version with its
test metrics. ``deblurflow predict -m models:/deblurflow-generator/3`` downloads that version
and loads its best.pt with ``torch.load(weights_only=True)``, never the pickled module, so a
registry entry cannot run code on the machine that predicts.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import deblurflow
from deblurflow.models import ModelFileError, load_generator

from .run import Run, tracking_uri

log = logging.getLogger(__name__)

REGISTERED_MODEL = "deblurflow-generator"
URI_SCHEMES = ("models:/", "runs:/")


@contextlib.contextmanager
def _global_uri(uri: str, experiment_id: str | None = None) -> Iterator[None]:
    """mlflow's fluent API on ``uri`` (and ``experiment_id``) for a moment; the environment
    (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID) left as it was."""
    import mlflow

    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")
    before = {k: os.environ.get(k) for k in keys}
    mlflow.set_tracking_uri(uri)
    if experiment_id:
        # log_model(run_id=...) files the LoggedModel under the *active* experiment, not the
        # run's: without this it lands in experiment 0 ("Default", under ./mlruns).
        os.environ["MLFLOW_EXPERIMENT_ID"] = experiment_id
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def signature() -> Any:
    """(N, 3, H, W) float32 in [-1, 1] -> the same: any batch and frame size."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    spec = TensorSpec(np.dtype(np.float32), (-1, 3, -1, -1))
    return ModelSignature(inputs=Schema([spec]), outputs=Schema([spec]))


def log_generator(
    run: Run,
    model_file: str | Path,
    metrics: dict[str, float],
    name: str = REGISTERED_MODEL,
) -> str | None:
    """Log ``model_file`` as the run's MLflow Model and register it; returns the version.

    Skipped (None) when the store's artifact folder is not this workspace's (a copied
    workspace's mlflow.db points at the original's ``mlartifacts/``): ``log_model`` writes
    there directly, so nothing a run does lands outside its own workspace; the run's connect
    already said so in its one warning."""

    def go() -> str:
        import mlflow

        generator, _ = load_generator(model_file)
        example = np.zeros((1, 3, 64, 64), np.float32)  # a flat gray 64x64 frame
        experiment = run.client.get_run(run.run_id).info.experiment_id
        with _global_uri(tracking_uri(), experiment):
            info = mlflow.pytorch.log_model(
                generator,
                name="model",
                run_id=run.run_id,
                signature=signature(),
                input_example=example,
                code_paths=[str(Path(deblurflow.__file__).parent)],
                extra_files=[str(model_file)],
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "numpy"],
                registered_model_name=name,
                await_registration_for=30,
            )
        version = str(info.registered_model_version)
        for key, value in metrics.items():
            run.client.set_model_version_tag(name, version, key, f"{value:.4g}")
        log.info("model logged and registered as models:/%s/%s", name, version)
        return version

    if not run.run_id or not run.artifacts:
        return None
    return run.safe("logging the model to the registry", go)


def fetch_generator_file(uri: str, dest: str | Path) -> Path:
    """Download a registered (``models:/NAME/VERSION``) or logged (``runs:/ID/model``) model
    into ``dest``; returns its best.pt. Errors are ModelFileError naming the URI."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        with _global_uri(tracking_uri()):
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))
    except (MlflowException, OSError) as exc:
        raise ModelFileError(f"{uri}: cannot fetch it from MLflow: {exc}") from exc
    found = sorted(local.rglob("best.pt"))
    if not found:
        raise ModelFileError(f"{uri}: no best.pt among its files (not a deblurflow model?)")
    return found[0]
