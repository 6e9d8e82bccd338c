"""Team set-up: an `mlflow server` on PostgreSQL receiving a run, its model and a registry
version from the stages' own code, and `predict -m models:/...` through it.

A real PostgreSQL server is started from the system's initdb/pg_ctl (Debian's postgresql
package); skipped with the reason where they, or psycopg2 (the `server` extra), are missing.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.slow

INITDB, PG_CTL = shutil.which("initdb"), shutil.which("pg_ctl")


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
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH")
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


def test_pipeline_run_and_registry_on_a_postgres_backed_server(
    mlflow_server, tmp_path, monkeypatch
):
    import torch

    from deblurflow import registry, run_info, tracking
    from deblurflow.cli import main
    from deblurflow.images import read_rgb, write_png
    from deblurflow.models import build_generator, save_generator
    from deblurflow.params import ModelParams

    url, psycopg2, pg_port = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)  # what a team sets
    monkeypatch.chdir(tmp_path)
    params = ModelParams(generator="resnet", channels=4, res_blocks=1, d_channels=4)
    g = build_generator(params)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_generator(tmp_path / "best.pt", g, params, epoch=1)

    t = tracking.Tracker()  # train
    t.start("lambda_pix=50", {"lambda_pix": 50}, run_info.standard_tags("dvc.yaml"))
    t.log_metrics({"loss_g": 1.5}, step=1)
    tracking.write_run_file(tmp_path / "run.json", t)
    with run_info.ends_run(tmp_path / "run.json", finish=True) as ev:  # evaluate
        ev.log_metrics({"test_psnr": 27.5})
        assert registry.log_generator(ev, tmp_path / "best.pt", {"test_psnr": 27.5}) == "1"

    write_png(tmp_path / "a.png", np.full((24, 40, 3), 90, np.uint8))
    assert main(["predict", "a.png", "-m", "models:/deblurflow-generator/1", "-o", "out"]) == 0
    assert read_rgb(tmp_path / "out" / "a_deblurred.png").shape == (24, 40, 3)

    # The rows really are in PostgreSQL.
    conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="mlflow")
    cur = conn.cursor()
    cur.execute("SELECT name, status FROM runs")
    assert cur.fetchall() == [("lambda_pix=50", "FINISHED")]
    cur.execute("SELECT name, version FROM model_versions")
    assert cur.fetchall() == [("deblurflow-generator", 1)]
    conn.close()
