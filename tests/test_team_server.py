"""Team set-up: a full tiny `dvc repro` with MLFLOW_TRACKING_URI pointing at an `mlflow server`
on PostgreSQL; the run, its params and metrics, the logged model and the registered version
are read back from the server and from PostgreSQL's tables, and `predict -m models:/...`
loads the version through the server.

A real PostgreSQL server is started from the system's initdb/pg_ctl (Debian's postgresql
package, on PATH or in /usr/lib/postgresql/*/bin); skipped with the reason where they, psycopg2
(the `server` extra) or dvc are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from workspace import BIN, STAGES, TINY, clean_env, copy_repo, merge, ran, repo_params, run

pytestmark = pytest.mark.slow


def _pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary: on PATH, else the newest of Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    debian = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                    key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)  # fmt: skip
    return str(debian[-1]) if debian else None


INITDB, PG_CTL = _pg_bin("initdb"), _pg_bin("pg_ctl")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    if os.geteuid() != 0:
        return []
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    if not shutil.which("runuser"):
        pytest.skip("running as root without runuser")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture
def postgres():
    if not (INITDB and PG_CTL):
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
            "/usr/lib/postgresql/*/bin: apt install postgresql"
        )
    psycopg2 = pytest.importorskip("psycopg2", reason="the server extra: pip install psycopg2")
    prefix = _as_pg_user()
    root = Path(tempfile.mkdtemp(prefix="deblurflow-pg-"))  # not under pytest's 0700 tmp
    root.chmod(0o755)
    if prefix:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    subprocess.run([*prefix, INITDB, "-D", str(data), "-U", "postgres", "--auth=trust", "-E",
                    "UTF8"], check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*prefix, PG_CTL, "-D", str(data), "-o", opts, "-l", str(root / "log"),
                    "-w", "start"], check=True, capture_output=True)  # fmt: skip
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE mlflow")
        conn.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow", psycopg2, port
    finally:
        subprocess.run([*prefix, PG_CTL, "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mlflow_server(postgres, tmp_path):
    db_uri, psycopg2, pg_port = postgres
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", db_uri,
           "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]  # fmt: skip
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180  # the first start creates the schema in PostgreSQL
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail("mlflow server did not start: " + (tmp_path / "server.log")
                                .read_text()[-2000:])  # fmt: skip
                time.sleep(1)
        yield url, psycopg2, pg_port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.skipif(not (BIN / "dvc").exists(), reason="dvc is not installed next to this Python")
def test_dvc_repro_logs_run_model_and_registry_into_a_postgres_backed_server(
    mlflow_server, tmp_path, monkeypatch
):
    from mlflow.tracking import MlflowClient

    from deblurflow import tracking
    from deblurflow.cli import main
    from deblurflow.images import read_rgb, write_png

    url, psycopg2, pg_port = mlflow_server
    env = clean_env(PYTHONUNBUFFERED="1", MLFLOW_TRACKING_URI=url)  # what a team sets
    (tmp_path / "ws").mkdir()
    ws = copy_repo(tmp_path / "ws", merge(repo_params(), TINY), env)
    assert ran(run([str(BIN / "dvc"), "repro"], ws, env)) == STAGES
    # Nothing went to the local store: a silent fallback would pass every check below but this.
    assert not (ws / "mlflow.db").exists() and not (ws / "mlartifacts").exists()
    ev = json.loads((ws / "metrics/eval.json").read_text())

    client = MlflowClient(url)
    exp = client.get_experiment_by_name("deblurflow")
    assert exp is not None, "no deblurflow experiment on the server"
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    r = runs[0]
    run_id = r.info.run_id
    assert tracking.read_run_id(ws / "models/mlflow_run.json") == run_id
    assert r.info.status == "FINISHED"  # train left it RUNNING, evaluate ended it
    assert r.info.run_name.startswith("params@")
    assert r.data.params["lambda_pix"] == "100.0" and r.data.params["train.epochs"] == "2"
    assert r.data.metrics["test_psnr"] == pytest.approx(ev["test_psnr"])
    assert r.data.metrics["best_epoch"] == ev["best_epoch"]
    assert r.data.tags["mlflow.source.git.commit"]
    assert {"samples", "model", "eval.json"} <= {a.path for a in client.list_artifacts(run_id)}
    # The server decides where artifacts go (--artifacts-destination), not the workspace.
    assert r.info.artifact_uri.startswith("mlflow-artifacts:")
    assert list((tmp_path / "artifacts").rglob("best.pt"))

    models = client.search_logged_models([exp.experiment_id])
    assert [m.source_run_id for m in models] == [run_id]  # mlflow.pytorch.log_model's model
    version = client.get_model_version("deblurflow-generator", "1")
    assert version.run_id == run_id
    assert models[0].model_id in version.source, version.source  # the version is that model
    assert version.tags["test_psnr"] == f"{ev['test_psnr']:.4g}"  # tagged with its scores

    # The rows really are in PostgreSQL.
    conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="mlflow")
    cur = conn.cursor()
    cur.execute("SELECT run_uuid, name, status FROM runs")
    assert cur.fetchall() == [(run_id, r.info.run_name, "FINISHED")]
    cur.execute("SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'test_psnr'",
                (run_id,))  # fmt: skip
    assert cur.fetchone()[0] == pytest.approx(ev["test_psnr"])
    cur.execute("SELECT value FROM params WHERE run_uuid = %s AND key = 'lambda_pix'", (run_id,))
    assert cur.fetchall() == [("100.0",)]
    cur.execute("SELECT source_run_id FROM logged_models")
    assert cur.fetchall() == [(run_id,)]
    cur.execute("SELECT name, version, run_id FROM model_versions")
    assert cur.fetchall() == [("deblurflow-generator", 1, run_id)]
    conn.close()

    # A colleague's machine: predict with the registered version, fetched through the server.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "a.png", np.full((24, 40, 3), 90, np.uint8))
    assert main(["predict", "a.png", "-m", "models:/deblurflow-generator/1", "-o", "out"]) == 0
    assert read_rgb(tmp_path / "out" / "a_deblurred.png").shape == (24, 40, 3)
