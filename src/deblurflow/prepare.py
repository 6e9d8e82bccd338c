"""The prepare stage: blurred/sharp pair PNGs -> resized, split, memory-mappable uint8 arrays.

This module owns the prepared-data format: ``prepared_writer``/``write_prepared`` are its only
writers and ``load_split``, ``read_info``, ``read_manifest`` and ``fingerprint`` its readers.
The stage reads ``pairs_dir/manifest.json`` (written by synthesize) and writes into ``out_dir``:

- ``{split}_blur.npy`` and ``{split}_sharp.npy`` for split in train/val/test: uint8 RGB arrays
  (N, H, W, 3), written through ``open_memmap`` so GoPro-size data is never held in RAM and can be
  read back with ``np.load(path, mmap_mode="r")``;
- ``manifest.csv``: ``split,index,sequence,frame,blur,sharp`` (index = row in the split arrays,
  paths = the source pair files relative to ``pairs_dir``);
- ``info.json``: width, height, counts and sequences per split, and the blur settings.

Splits are whole sequences: neighbouring frames are near duplicates, so a frame-level split would
leak test content into training. GoPro's test split stays test; validation sequences are drawn
from the training ones with the seed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from deblurflow.atomic import atomic_dir, ensure_space, preallocate, write_json
from deblurflow.images import read_rgb
from deblurflow.params import PrepareParams

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
KINDS = ("blur", "sharp")
CSV_COLUMNS = ("split", "index", "sequence", "frame", "blur", "sharp")
MANIFEST = "manifest.csv"
INFO = "info.json"


# --- the prepared-data format: the one writer and the one reader -----------------------------


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


# --- the prepare stage -------------------------------------------------------------------------


def target_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) with the long side scaled to ``size``, aspect kept, rounded to nearest."""
    if size is None:
        return width, height
    long_side = max(width, height)
    # Integer round-half-up of side * size / long_side: no float error at exact halves.
    new_w = max(1, (2 * width * size + long_side) // (2 * long_side))
    new_h = max(1, (2 * height * size + long_side) // (2 * long_side))
    return new_w, new_h


def load_resized(path: Path, size: int | None) -> np.ndarray:
    """Read ``path`` as uint8 RGB (H, W, 3), INTER_AREA-resized so its long side is ``size``."""
    rgb = read_rgb(path)
    height, width = rgb.shape[:2]
    new_w, new_h = target_size(width, height, size)
    if (new_w, new_h) != (width, height):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return rgb


def read_pairs_manifest(pairs_dir: Path) -> dict[str, Any]:
    """Load and sanity-check ``pairs_dir/manifest.json``."""
    path = pairs_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the pairs manifest ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("pairs"), list):
        raise ValueError(f"{path}: expected an object with a 'pairs' list (see synthesize)")
    keys = ("split", "sequence", "frame", "blur", "sharp")
    for row in manifest["pairs"]:
        if not isinstance(row, dict) or any(k not in row for k in keys):
            raise ValueError(f"{path}: a pair lacks one of {', '.join(keys)}: {row!r}")
        if row["split"] not in ("train", "test"):
            raise ValueError(f"{path}: pair split must be train or test, got {row['split']!r}")
    return manifest


def split_sequences(
    train_sequences: list[str], val_sequences: int, seed: int
) -> tuple[list[str], list[str]]:
    """(train, val) sequence names: ``val_sequences`` of the sorted names drawn with ``seed``."""
    names = sorted(train_sequences)
    if len(names) < val_sequences + 1:
        raise ValueError(
            f"prepare.val_sequences is {val_sequences} but there are only {len(names)} training "
            f"sequences ({', '.join(names) or 'none'}); at least {val_sequences + 1} are needed "
            "so that one remains for training"
        )
    rng = np.random.default_rng(seed)
    picked = set(rng.choice(len(names), size=val_sequences, replace=False).tolist())
    val = [n for i, n in enumerate(names) if i in picked]
    train = [n for i, n in enumerate(names) if i not in picked]
    return train, val


VAL_SHARE = 0.2  #: share of a lone training sequence's pairs (its last, in time) that validate


def split_in_time(rows: list[dict[str, Any]], sequence: str) -> tuple[list, list]:
    """(train, val) pairs of one sequence: the last VAL_SHARE of them (at least one) validate."""
    if len(rows) < 2:
        raise ValueError(
            f"the only training sequence, {sequence}, has {len(rows)} pair(s): at least 2 are "
            "needed to keep one for validation (use a longer clip or more sequences)"
        )
    n_val = max(1, round(VAL_SHARE * len(rows)))
    logger.warning(
        "one training sequence (%s): its last %d of %d pairs in time validate",
        sequence, n_val, len(rows),
    )  # fmt: skip
    return rows[:-n_val], rows[-n_val:]


def prepare_pairs(
    pairs_dir: str | Path, out_dir: str | Path, prepare: PrepareParams, seed: int
) -> dict[str, Any]:
    """Resize and split the pairs of ``pairs_dir`` into arrays in ``out_dir``; return info.json."""
    pairs_dir, out_dir = Path(pairs_dir), Path(out_dir)
    manifest = read_pairs_manifest(pairs_dir)
    pairs = manifest["pairs"]

    train_all = sorted({p["sequence"] for p in pairs if p["split"] == "train"})
    test_seqs = sorted({p["sequence"] for p in pairs if p["split"] == "test"})
    if not test_seqs:
        raise ValueError(f"{pairs_dir / 'manifest.json'}: no test pairs")
    # One training sequence (e.g. two slow-motion clips: one train, one test) cannot give up a
    # whole sequence: its last VAL_SHARE of pairs in time validate instead.
    one = len(train_all) == 1
    train_seqs, val_seqs = (
        (train_all, train_all) if one else split_sequences(train_all, prepare.val_sequences, seed)
    )
    split_of = {("train", s): "train" for s in train_seqs}
    split_of.update({("train", s): "val" for s in val_seqs if not one})
    split_of.update({("test", s): "test" for s in test_seqs})
    # Manifest order (sequence, then time) is kept inside each split.
    rows: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for p in sorted(pairs, key=lambda p: (p["sequence"], str(p["frame"]))):
        rows[split_of[(p["split"], p["sequence"])]].append(p)
    if one:
        rows["train"], rows["val"] = split_in_time(rows["train"], train_all[0])

    # Every frame must come out at this size; the first blur image sets it.
    first_path = pairs_dir / rows["train"][0]["blur"]
    first = load_resized(first_path, prepare.size)
    height, width = first.shape[:2]
    source_h, source_w = read_rgb(first_path).shape[:2]
    if width > source_w:
        # Allowed (a user may want it), but upscaled pairs add no detail for training.
        logger.warning(
            "prepare.size=%s upscales the %dx%d pairs to %dx%d",
            prepare.size,
            source_w,
            source_h,
            width,
            height,
        )
    logger.info(
        "%s pairs -> %dx%d, sequences train %d / val %d (%s) / test %d",
        " / ".join(f"{len(rows[s])} {s}" for s in SPLITS),
        width,
        height,
        len(train_seqs),
        len(val_seqs),
        ", ".join(val_seqs),
        len(test_seqs),
    )

    info = {
        "width": width,
        "height": height,
        "size": prepare.size,
        "seed": seed,
        "counts": {split: len(rows[split]) for split in SPLITS},
        "sequences": {"train": train_seqs, "val": val_seqs, "test": test_seqs},
        # Carried along so every reported metric can say which blur it was measured on.
        "blur": {k: manifest.get(k) for k in ("gamma", "frames", "stride")},
    }
    with prepared_writer(out_dir, info["counts"], height, width, rows, info) as arrays:

        def load_pair(split: str, index: int, pair: dict[str, Any]) -> None:
            for kind in KINDS:
                path = pairs_dir / pair[kind]
                img = load_resized(path, prepare.size)
                if img.shape[:2] != (height, width):
                    raise ValueError(
                        f"sequence {pair['sequence']}: {path} resizes to "
                        f"{img.shape[1]}x{img.shape[0]}, not the {width}x{height} of the other "
                        "frames; all pairs must share one aspect ratio"
                    )
                # Threads write disjoint rows of the memmap, so no lock is needed.
                arrays[(split, kind)][index] = img

        # Threads suffice: cv2 decode and resize release the GIL.
        workers = min(8, os.cpu_count() or 1)
        total = sum(len(r) for r in rows.values())
        with (
            ThreadPoolExecutor(workers) as pool,
            tqdm(total=total, unit="pair", desc="prepare", disable=None) as bar,
        ):
            futures: list[Future] = [
                pool.submit(load_pair, split, i, pair)
                for split in SPLITS
                for i, pair in enumerate(rows[split])
            ]
            try:
                for future in as_completed(futures):
                    future.result()
                    bar.update(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return info
