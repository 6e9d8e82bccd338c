"""Shared test fixtures: the real data shipped in data/real, tiny params, tiny prepared folders.

Prepared folders are written by the prepare stage's own writer (deblurflow.prepared), so the
tests read exactly the format the pipeline produces. Fixtures, not imports: test files never
``from conftest import``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblurflow.params import ModelParams, Params, TrainParams
from deblurflow.prepared import write_prepared

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO / "data" / "real"
PREPARED_COUNTS = {"train": 6, "val": 2, "test": 3}


@pytest.fixture
def real_data() -> Path:
    """data/real in the repo: two real GoPro pairs and a real 536 fps frame sequence."""
    assert (REAL_DATA / "gopro-real").is_dir(), f"{REAL_DATA} is missing from this checkout"
    return REAL_DATA


def tiny_pairs(n: int, h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(blur, sharp) uint8 (n, h, w, 3): smooth random sharp frames, horizontally blurred inputs."""
    sharp = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    if n == 0:
        return sharp.copy(), sharp
    sharp = np.stack([cv2.GaussianBlur(s, (0, 0), 1.2) for s in sharp])
    blur = np.stack([cv2.blur(s, (9, 1)) for s in sharp])
    return blur, sharp


def tiny_prepared(out: Path, counts: dict[str, int], h: int, w: int, seed: int) -> Path:
    """A prepared folder with ``counts`` tiny pairs per split, one sequence per split, seeded."""
    rng = np.random.default_rng(seed)
    splits = {split: tiny_pairs(n, h, w, rng) for split, n in counts.items()}
    rows = {
        split: [
            {"sequence": f"{split}_seq", "frame": f"{i:06d}", "blur": "", "sharp": ""}
            for i in range(n)
        ]
        for split, n in counts.items()
    }
    return write_prepared(out, splits, rows)


@pytest.fixture
def make_prepared(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_prepared(counts=None, h=36, w=64, seed=0, name="prepared") -> Path``."""

    def make(
        counts: dict[str, int] | None = None,
        h: int = 36,
        w: int = 64,
        seed: int = 0,
        name: str = "prepared",
    ) -> Path:
        return tiny_prepared(tmp_path / name, counts or PREPARED_COUNTS, h, w, seed)

    return make


@pytest.fixture
def prepared(make_prepared) -> Path:
    """A prepared folder of 64x36 pairs: 6 train, 2 val, 3 test."""
    return make_prepared()


@pytest.fixture
def tiny_params() -> Params:
    """Params for a training run of seconds on CPU: 4-channel models, 2 epochs of 2 steps."""
    return Params(
        model=ModelParams(channels=4, res_blocks=1, d_channels=4),
        train=TrainParams(
            epochs=2, batch_size=2, crop=32, steps_per_epoch=2, log_every=1, device="cpu"
        ),
    )


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO
