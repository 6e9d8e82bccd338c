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


def _run(cmd, cwd):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"{cmd}: {out.stdout}\n{out.stderr}"
    return out.stdout


def test_push_then_pull_into_a_fresh_clone(tmp_path):
    repo, remote, clone = tmp_path / "repo", tmp_path / "remote", tmp_path / "clone"
    repo.mkdir()
    _run(["git", "init", "-q"], repo)
    _run([DVC, "init", "-q"], repo)
    (repo / "dvc.yaml").write_text(STAGE)
    _run([DVC, "repro", "-q"], repo)
    # a local-folder remote (a shared drive); `s3://bucket/path` works the same way
    _run([DVC, "remote", "add", "-d", "store", str(remote)], repo)
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
