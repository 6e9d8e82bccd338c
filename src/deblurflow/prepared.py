"""The prepared-data format: the one writer and the one reader of ``data/prepared``.

The prepare stage writes it (``prepared_writer``); train, select and evaluate read it
(``load_split``, ``read_info``, ``read_manifest``, ``fingerprint``) through this module alone, so
an edit to the split or resize code (``prepare.py``) reruns prepare but not what reads its
output when the arrays come out identical. A prepared folder holds:

- ``{split}_blur.npy`` and ``{split}_sharp.npy`` for split in train/val/test: uint8 RGB arrays
  (N, H, W, 3), written through ``open_memmap`` so GoPro-size data is never held in RAM and can be
  read back with ``np.load(path, mmap_mode="r")``;
- ``manifest.csv``: ``split,index,sequence,frame,blur,sharp`` (index = row in the split arrays,
  paths = the source pair files relative to the pairs folder);
- ``info.json``: width, height, counts and sequences per split, and the blur settings.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deblurflow.atomic import atomic_dir, ensure_space, preallocate, write_json

SPLITS = ("train", "val", "test")
KINDS = ("blur", "sharp")
CSV_COLUMNS = ("split", "index", "sequence", "frame", "blur", "sharp")
MANIFEST = "manifest.csv"
INFO = "info.json"


def array_path(prepared_dir: str | Path, split: str, kind: str) -> Path:
    """``prepared_dir/{split}_{kind}.npy``, kind = blur or sharp."""
    return Path(prepared_dir) / f"{split}_{kind}.npy"


@contextlib.contextmanager
def prepared_writer(
    out_dir: str | Path,
    counts: Mapping[str, int],
    height: int,
    width: int,
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    info: Mapping[str, Any],
) -> Iterator[dict[tuple[str, str], np.ndarray]]:
    """Write a prepared folder atomically: yields ``{(split, kind): writable array}`` to fill.

    The arrays are ``open_memmap`` files (N, H, W, 3) uint8, so GoPro-size data is never held in
    RAM; rows may be filled from several threads. When the block ends without an error, the
    manifest (``rows[split][i]`` has sequence, frame, blur, sharp) and ``info`` are written and
    the folder replaces ``out_dir`` whole; after an error nothing of it stays.
    """
    # A memory map on a full disk dies of SIGBUS, with no message and no clean-up: check the
    # space first, then reserve each file's blocks before mapping it.
    needed = sum(len(KINDS) * counts[split] * height * width * 3 for split in counts)
    ensure_space(out_dir, needed + 2**20)
    with atomic_dir(out_dir) as tmp:
        arrays = {}
        for split in counts:
            for kind in KINDS:
                path = array_path(tmp, split, kind)
                shape = (counts[split], height, width, 3)
                arrays[(split, kind)] = np.lib.format.open_memmap(
                    path, mode="w+", dtype=np.uint8, shape=shape
                )
                preallocate(path, path.stat().st_size)
        yield arrays
        for array in arrays.values():
            array.flush()
        arrays.clear()  # drop the memmaps before the folder is renamed into place

        with open(tmp / MANIFEST, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for split in counts:
                for i, p in enumerate(rows.get(split, ())):
                    writer.writerow([split, i, p["sequence"], p["frame"], p["blur"], p["sharp"]])
        write_json(tmp / INFO, dict(info))


def write_prepared(
    out_dir: str | Path,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    manifest_rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    info_extra: Mapping[str, Any] | None = None,
) -> Path:
    """A prepared folder holding in-memory ``{split: (blur, sharp)}`` uint8 (N, H, W, 3) arrays.

    Without ``manifest_rows`` each row is named sequence=split, frame=NNNNNN, no source paths.
    info.json gets width, height and counts, then ``info_extra``.
    """
    height, width = next(iter(splits.values()))[0].shape[1:3]
    counts = {split: len(blur) for split, (blur, _) in splits.items()}
    if manifest_rows is None:
        manifest_rows = {
            split: [
                {"sequence": split, "frame": f"{i:06d}", "blur": "", "sharp": ""} for i in range(n)
            ]
            for split, n in counts.items()
        }
    info = {"width": int(width), "height": int(height), "counts": counts, **(info_extra or {})}
    with prepared_writer(out_dir, counts, height, width, manifest_rows, info) as arrays:
        for split, pair in splits.items():
            for kind, array in zip(KINDS, pair):
                expected = (counts[split], height, width, 3)
                if array.shape != expected:
                    raise ValueError(f"{split} {kind}: shape {array.shape}, expected {expected}")
                arrays[(split, kind)][:] = array
    return Path(out_dir)


def load_split(prepared_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split's (blur, sharp) uint8 RGB arrays (N, H, W, 3), memory-mapped, not read yet."""
    blur = np.load(array_path(prepared_dir, split, "blur"), mmap_mode="r")
    sharp = np.load(array_path(prepared_dir, split, "sharp"), mmap_mode="r")
    return blur, sharp


def read_info(prepared_dir: str | Path) -> dict[str, Any]:
    """info.json: width, height, counts (from the stage also size, seed, sequences, blur)."""
    return json.loads((Path(prepared_dir) / INFO).read_text())


def read_manifest(prepared_dir: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of manifest.csv (``index`` as int); one split's rows in index order when given."""
    with open(Path(prepared_dir) / MANIFEST, newline="") as f:
        rows = [{**row, "index": int(row["index"])} for row in csv.DictReader(f)]
    if split is not None:
        rows = sorted((r for r in rows if r["split"] == split), key=lambda r: r["index"])
    return rows


def fingerprint(prepared_dir: str | Path) -> str:
    """Identifies the prepared data by its info and manifest (16 hex digits), for safe resuming."""
    digest = hashlib.sha256()
    for name in (INFO, MANIFEST):
        path = Path(prepared_dir) / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:16]
