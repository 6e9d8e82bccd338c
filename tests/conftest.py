"""Shared test fixtures: repo paths, the real data in ../shared/data, tiny prepared splits."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is not beside the repo")
    return SHARED_DATA


def write_prepared(
    out: Path, counts: dict[str, int], h: int = 36, w: int = 64, seed: int = 0
) -> Path:
    """A tiny data/prepared folder: smooth random sharp frames, horizontally blurred inputs."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in counts.items():
        sharp = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
        sharp = np.stack([cv2.GaussianBlur(s, (0, 0), 1.2) for s in sharp])
        blur = np.stack([cv2.blur(s, (9, 1)) for s in sharp])
        np.save(out / f"{split}_blur.npy", blur)
        np.save(out / f"{split}_sharp.npy", sharp)
        rows += [(split, i, f"{split}_seq", f"{i:06d}") for i in range(n)]
    with open(out / "manifest.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["split", "index", "sequence", "frame", "blur", "sharp"])
        wr.writerows([(*r, "", "") for r in rows])
    (out / "info.json").write_text(json.dumps({"width": w, "height": h, "counts": counts}))
    return out


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    return write_prepared(tmp_path / "prepared", {"train": 6, "val": 2, "test": 3})
