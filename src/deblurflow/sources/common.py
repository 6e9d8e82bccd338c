"""What every raw-frame source shares: its error type, the split names and frame ordering."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

SPLITS = ("train", "test")
CHUNK = 1 << 20  #: bytes per read while downloading, hashing and copying


class SourceError(Exception):
    """A source cannot be fetched: bad URL, failed download, unsafe archive, bad folder."""


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders frame_2.png before frame_10.png."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def split_sequences(names: list[str], test_fraction: float, seed: int) -> list[str]:
    """The names that go to test: a seeded choice of whole sequences, at least one on each side
    (neighbouring frames are near duplicates, so a split by frame would leak test into train)."""
    n_test = min(max(round(len(names) * test_fraction), 1), len(names) - 1)
    order = np.random.default_rng(seed).permutation(len(names))
    return [names[i] for i in order[:n_test]]
