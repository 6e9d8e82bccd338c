"""The MLflow UI as a person sees it, in a real headless Chromium (Playwright): the run's name,
its registered model, the compare view, and which view a fresh browser opens on. Skipped with
the reason where Playwright or a Chromium is missing. DEBLURFLOW_SCREENSHOTS=DIR keeps the
screenshots (docs/).

MLflow 3.17's UI picks its GenAI or Model training view from the page's ``workflowType`` URL
parameter, else from the browser's localStorage (``mlflow.workflowType_v1``, written by the
sidebar switch), else GenAI; the experiment's ``mlflow.experimentKind`` tag is not read (the
bundle's workflow-based navigation flag is hard-wired on) and the server has no setting for it.
The test pins what the README tells a newcomer: where a fresh browser lands, that the plain
runs link shows the runs anyway, and that one click on *Model training* is remembered."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CANDIDATES = (os.environ.get("CHROMIUM"), *map(shutil.which, ("chromium", "chromium-browser",
              "google-chrome")))  # fmt: skip
CHROMIUM = next((p for p in CANDIDATES if p), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui_with_a_run(tmp_path, monkeypatch):
    """A local store holding one pipeline-like run and its registered model, served by
    `mlflow server` (what `mlflow ui` runs)."""
    import torch

    from deblurflow import tracking
    from deblurflow.models import build_generator, save_generator
    from deblurflow.params import ModelParams
    from deblurflow.tracking import registry, state

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    params = ModelParams(generator="resnet", channels=4, res_blocks=1, d_channels=4)
    g = build_generator(params)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_generator(tmp_path / "best.pt", g, params, epoch=1)
    run_ids = []
    for lam, psnr in ((100, 27.4), (50, 27.9)):
        t = tracking.Run()
        t.start(f"lambda_pix={lam}", {"lambda_pix": lam}, state.standard_tags("dvc.yaml"))
        t.describe()
        t.log_metrics({"test_psnr": psnr, "gain_psnr": psnr - 27.0})
        tracking.write_run_file(tmp_path / "run.json", t)
        with tracking.stage_run(tmp_path / "run.json", finish=True) as ev:
            registry.log_generator(ev, tmp_path / "best.pt", {"test_psnr": psnr})
        run_ids.append(t.run_id)
    exp_id = t.client.get_run(t.run_id).info.experiment_id
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host",
         "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail((tmp_path / "server.log").read_text()[-2000:])
                time.sleep(1)
        yield url, exp_id, run_ids
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt install chromium)")
def test_ui_shows_named_runs_and_the_registered_model(ui_with_a_run, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    url, exp_id, run_ids = ui_with_a_run
    shots = Path(os.environ.get("DEBLURFLOW_SCREENSHOTS") or tmp_path)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 800})
        context.set_default_timeout(60_000)
        page = context.new_page()  # a fresh browser profile: nothing remembered

        # The experiment's own link opens MLflow 3.17's GenAI overview, tag or not (README).
        page.goto(f"{url}/#/experiments/{exp_id}")
        page.wait_for_url(re.compile(r"/overview/.*[?&]workflowType=genai"))
        # The runs link shows the runs in either view (GenAI calls the page "Training runs").
        page.goto(f"{url}/#/experiments/{exp_id}/runs")
        page.get_by_text("lambda_pix=50", exact=True).first.wait_for()
        page.get_by_text("lambda_pix=100", exact=True).first.wait_for()
        assert "Model registry" not in page.inner_text("body")  # GenAI's sidebar hides it

        # One click on the sidebar's switch; the browser keeps it for every later visit.
        page.get_by_role("button", name="Model training", exact=True).click()
        page.get_by_text("Model registry", exact=True).first.wait_for()
        stored = page.evaluate("localStorage.getItem('mlflow.workflowType_v1')")
        assert stored == '"machine_learning"'
        page.close()
        page = context.new_page()  # a new tab: the app starts again from localStorage
        page.goto(f"{url}/#/experiments/{exp_id}")
        page.wait_for_url(re.compile(r"/runs\?.*workflowType=machine_learning"))
        page.get_by_text("lambda_pix=50", exact=True).first.wait_for()  # named rows
        page.get_by_text("lambda_pix=100", exact=True).first.wait_for()
        body = page.inner_text("body")
        assert "deblurflow-generator" in body and "dvc.yaml" in body  # Models, Source columns
        page.screenshot(path=str(shots / "mlflow_runs.png"))

        page.goto(f"{url}/#/models")
        page.get_by_text("deblurflow-generator").first.wait_for()

        ids = ",".join(f'"{r}"' for r in run_ids)
        page.goto(f'{url}/#/compare-runs?runs=[{ids}]&experiments=["{exp_id}"]')
        page.get_by_text("test_psnr").first.wait_for()
        page.screenshot(path=str(shots / "mlflow_compare.png"), full_page=True)
        browser.close()
