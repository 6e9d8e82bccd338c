"""The real data ships inside the repo: a plain clone evaluates on real pairs and skips nothing."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# Built from parts so that this file does not match itself.
OUTSIDE = re.compile(re.escape("..") + r"[/\\]" + "shared")


def test_real_data_is_in_the_repo():
    real = REPO / "data" / "real"
    assert sorted(p.name for p in (real / "gopro-real").iterdir()) == [
        "Flower_blur.png",
        "Flower_sharp.png",
        "Istanbul_blur.png",
        "Istanbul_sharp.png",
    ]
    assert len(list((real / "highfps-real" / "frames").glob("image_*.png"))) == 161
    assert len(list((real / "gopro-scenes").glob("seq*_frame*.png"))) == 5  # deblurred examples
    assert len(list((real / "gopro-scenes").glob("sharp*.png"))) == 5  # sharp frames
    assert "Licence" in (real / "README.md").read_text()


def test_default_real_pairs_are_the_shipped_ones_and_a_hashed_dep():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["evaluate"]["real_pairs"] == ["data/real/gopro-real"]
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert "data/real/gopro-real" in stages["evaluate"]["deps"]


def test_default_train_photos_include_the_gopro_scenes_a_hashed_dep_of_download():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["data"]["sample"]["photos"] == "both"  # the GoPro scenes and scikit's photos
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert "data/real/gopro-scenes" in stages["download"]["deps"]


def test_nothing_reads_outside_the_repo():
    files = [REPO / "params.yaml", REPO / "dvc.yaml", REPO / "README.md", REPO / "BENCHMARKS.md"]
    for folder in ("src", "stages", "tests", "bench"):
        files += sorted((REPO / folder).rglob("*.py"))
    offenders = [str(f.relative_to(REPO)) for f in files if OUTSIDE.search(f.read_text())]
    assert offenders == []
