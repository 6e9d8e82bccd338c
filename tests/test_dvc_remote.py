"""A DVC remote round trip: push a pipeline's outputs, pull them into a fresh clone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DVC = Path(sys.executable).with_name("dvc")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DVC.exists(), reason="dvc is not installed beside Python"),
]

STAGE = """\
stages:
  make:
    cmd: python -c "import pathlib, os; d = pathlib.Path('data/prepared'); d.mkdir(parents=True,
      exist_ok=True); (d / 'x.npy').write_bytes(os.urandom(4096)); pathlib.Path('models').mkdir(
      exist_ok=True); pathlib.Path('models/best.pt').write_bytes(os.urandom(2048))"
    outs:
      - data/prepared
      - models/best.pt
"""


def _run(cmd, cwd, env=None):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert out.returncode == 0, f"{cmd}: {out.stdout}\n{out.stderr}"
    return out.stdout


def test_push_then_pull_into_a_fresh_clone(tmp_path):
    round_trip(tmp_path, str(tmp_path / "remote"))  # a local folder (a shared drive)


def test_s3_remote_through_a_local_s3_server(tmp_path, monkeypatch):
    pytest.importorskip("dvc_s3", reason="S3 remotes need dvc-s3: pip install dvc-s3")
    server_mod = pytest.importorskip("moto.server", reason="pip install 'moto[server]'")
    import boto3

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="team")
        round_trip(tmp_path, "s3://team/deblurflow", [("endpointurl", endpoint)])
        keys = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="team")
        assert keys["KeyCount"] >= 2  # the pipeline's two outputs are in the bucket
    finally:
        server.stop()


def round_trip(tmp_path, url, settings=()):
    """dvc repro, dvc push to ``url``, git clone, dvc pull: the same bytes come back."""
    repo, clone = tmp_path / "repo", tmp_path / "clone"
    repo.mkdir()
    _run(["git", "init", "-q"], repo)
    _run([DVC, "init", "-q"], repo)
    (repo / "dvc.yaml").write_text(STAGE)
    _run([DVC, "repro", "-q"], repo)
    _run([DVC, "remote", "add", "-d", "store", url], repo)
    for key, value in settings:
        _run([DVC, "remote", "modify", "store", key, value], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run"], repo)
    _run([DVC, "push", "-q"], repo)

    _run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "models" / "best.pt").exists()
    _run([DVC, "pull", "-q"], clone)
    for rel in ("models/best.pt", "data/prepared/x.npy"):
        assert (clone / rel).read_bytes() == (repo / rel).read_bytes(), rel
    status = _run([DVC, "status"], clone)
    assert "up to date" in status.lower(), status

    shutil.rmtree(repo / ".dvc" / "cache")  # the remote alone must hold the data
    shutil.rmtree(clone / ".dvc" / "cache")
    (clone / "models" / "best.pt").unlink()
    _run([DVC, "pull", "-q"], clone)
    assert (clone / "models" / "best.pt").read_bytes() == (repo / "models/best.pt").read_bytes()
