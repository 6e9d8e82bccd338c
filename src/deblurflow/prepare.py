"""The prepare stage: blurred/sharp pair PNGs -> resized, split, memory-mappable uint8 arrays.

The stage reads ``pairs_dir/manifest.json`` (written by synthesize) and writes ``out_dir`` in the
prepared-data format (``prepared.py``: arrays per split, manifest.csv, info.json).

Splits are whole sequences: neighbouring frames are near duplicates, so a frame-level split would
leak test content into training. GoPro's test split stays test; validation sequences are drawn
from the training ones with the seed.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from deblurflow.images import read_rgb
from deblurflow.params import PrepareParams
from deblurflow.prepared import KINDS, SPLITS, prepared_writer
from deblurflow.processes import cpu_workers
from deblurflow.resize import load_resized

logger = logging.getLogger(__name__)


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
    rows, sequences = assign_splits(manifest["pairs"], prepare.val_sequences, seed, pairs_dir)
    width, height = frame_size(pairs_dir / rows["train"][0]["blur"], prepare.size)
    logger.info(
        "%s pairs -> %dx%d, sequences train %d / val %d (%s) / test %d",
        " / ".join(f"{len(rows[s])} {s}" for s in SPLITS), width, height,
        len(sequences["train"]), len(sequences["val"]), ", ".join(sequences["val"]),
        len(sequences["test"]),
    )  # fmt: skip
    info = {
        "width": width,
        "height": height,
        "size": prepare.size,
        "seed": seed,
        "counts": {split: len(rows[split]) for split in SPLITS},
        "sequences": sequences,
        # Carried along so every reported metric can say which blur it was measured on.
        "blur": {k: manifest.get(k) for k in ("gamma", "frames", "stride")},
    }
    with prepared_writer(out_dir, info["counts"], height, width, rows, info) as arrays:
        fill(arrays, rows, pairs_dir, prepare.size, (height, width))
    return info


def assign_splits(
    pairs: list[dict[str, Any]], val_sequences: int, seed: int, pairs_dir: Path
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """({split: pairs in manifest order}, {split: sequence names}) for train, val and test."""
    train_all = sorted({p["sequence"] for p in pairs if p["split"] == "train"})
    test_seqs = sorted({p["sequence"] for p in pairs if p["split"] == "test"})
    if not test_seqs:
        raise ValueError(f"{pairs_dir / 'manifest.json'}: no test pairs")
    # One training sequence (e.g. two slow-motion clips: one train, one test) cannot give up a
    # whole sequence: its last VAL_SHARE of pairs in time validate instead.
    one = len(train_all) == 1
    train_seqs, val_seqs = (
        (train_all, train_all) if one else split_sequences(train_all, val_sequences, seed)
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
    return rows, {"train": train_seqs, "val": val_seqs, "test": test_seqs}


def frame_size(first_path: Path, size: int | None) -> tuple[int, int]:
    """(width, height) every frame must come out at: the first blur image's after resizing."""
    height, width = load_resized(first_path, size).shape[:2]
    source_h, source_w = read_rgb(first_path).shape[:2]
    if width > source_w:
        # Allowed (a user may want it), but upscaled pairs add no detail for training.
        logger.warning("prepare.size=%s upscales the %dx%d pairs to %dx%d",
                       size, source_w, source_h, width, height)  # fmt: skip
    return width, height


def fill(
    arrays: dict[tuple[str, str], np.ndarray],
    rows: dict[str, list[dict[str, Any]]],
    pairs_dir: Path,
    size: int | None,
    shape: tuple[int, int],
) -> None:
    """Read, resize and write every pair into ``arrays``, in threads (cv2 releases the GIL)."""
    height, width = shape

    def load_pair(split: str, index: int, pair: dict[str, Any]) -> None:
        for kind in KINDS:
            path = pairs_dir / pair[kind]
            img = load_resized(path, size)
            if img.shape[:2] != (height, width):
                raise ValueError(
                    f"sequence {pair['sequence']}: {path} resizes to "
                    f"{img.shape[1]}x{img.shape[0]}, not the {width}x{height} of the other "
                    "frames; all pairs must share one aspect ratio"
                )
            # Threads write disjoint rows of the memmap, so no lock is needed.
            arrays[(split, kind)][index] = img

    workers = cpu_workers()  # decoding threads: one per usable core, at most 8
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
