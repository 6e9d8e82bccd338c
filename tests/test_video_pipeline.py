"""End to end on slow-motion clips: dvc repro with data.source video, then a clip is added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from videos import encode, gray_frames, rendered
from workspace import BIN, STAGES, clean_env, copy_repo, merge, ran, repo_params, run

pytestmark = pytest.mark.slow

HIGHFPS = Path(__file__).resolve().parents[1] / "data" / "real" / "highfps-real"
TINY = {
    "data": {"source": "video", "test_fraction": 0.3},
    "blur": {"frames": None, "exposure_ms": 30, "workers": 1},
    "prepare": {"size": 96, "val_sequences": 1},
    "model": {"channels": 4, "res_blocks": 1, "d_channels": 4},
    "train": {"epochs": 1, "batch_size": 2, "crop": 32, "steps_per_epoch": 2, "log_every": 1},
    "evaluate": {"samples": 1, "real_pairs": []},
}  # fmt: skip


def test_repro_on_clips_then_adding_a_clip_reruns_from_download(tmp_path):
    if not (BIN / "dvc").exists():
        pytest.skip("dvc is not installed next to this Python")
    real = sorted((HIGHFPS / "frames").glob("image_*.png"))
    if len(real) != 161:
        raise AssertionError(f"real frames not found in {HIGHFPS / 'frames'}")
    clips = tmp_path / "clips"
    clips.mkdir()
    # 4:3 like the real frames (prepare needs one aspect ratio). Two clips: one tests, and the
    # lone training clip's last pairs in time validate (prepare.split_in_time).
    encode(clips / "street.mkv", gray_frames(real[:21]), fps=240)
    encode(clips / "square.mp4", rendered(21, h=72, w=96), fps=120)
    params = merge(repo_params(), merge(TINY, {"data": {"videos": str(clips)}}))
    env = clean_env(PYTHONUNBUFFERED="1")
    (tmp_path / "ws").mkdir()
    ws = copy_repo(tmp_path / "ws", params, env)

    assert ran(run([str(BIN / "dvc"), "repro"], ws, env)) == STAGES
    source = json.loads((ws / "data/raw/source.json").read_text())
    rates = {key.split("/")[1]: fps for key, fps in source["fps"].items()}
    assert rates == {"street": 240.0, "square": 120.0}
    assert len(source["sequences"]["test"]) == 1  # max(1, round(2 x 0.3)): one whole clip
    manifest = json.loads((ws / "data/pairs/manifest.json").read_text())
    assert {k: v["m"] for k, v in manifest["sequences"].items()} == {
        k: 3 if k.endswith("square") else 7 for k in source["fps"]
    }
    lock = yaml.safe_load((ws / "dvc.lock").read_text())
    dep = [d for d in lock["stages"]["download"]["deps"] if d["path"] == str(clips)]
    assert len(dep) == 1 and dep[0]["nfiles"] == 2 and dep[0]["md5"].endswith(".dir")
    info = json.loads((ws / "data/prepared/info.json").read_text())
    assert info["sequences"]["train"] == info["sequences"]["val"]  # one clip, split in time
    assert info["counts"]["val"] >= 1 and info["counts"]["train"] >= 1
    assert ran(run([str(BIN / "dvc"), "repro"], ws, env)) == []

    encode(clips / "drift.mov", rendered(21, h=72, w=96, seed=1), fps=240)
    status = run([str(BIN / "dvc"), "status", "--json"], ws, env)
    assert list(json.loads(status)) == ["download"]  # only download sees the change itself
    assert ran(run([str(BIN / "dvc"), "repro"], ws, env)) == STAGES
    source = json.loads((ws / "data/raw/source.json").read_text())
    assert sum(len(s) for s in source["sequences"].values()) == 3
