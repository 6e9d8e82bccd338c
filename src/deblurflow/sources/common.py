"""What every raw-frame source shares: its error type, the split names and frame ordering."""

from __future__ import annotations

import re
from typing import Any

SPLITS = ("train", "test")
CHUNK = 1 << 20  #: bytes per read while downloading, hashing and copying


class SourceError(Exception):
    """A source cannot be fetched: bad URL, failed download, unsafe archive, bad folder."""


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders frame_2.png before frame_10.png."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
