"""The prepare stage: resize, whole-sequence splits, arrays that agree with the manifest."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblurflow.blur import average_frames
from deblurflow.images import read_rgb, write_png
from deblurflow.params import BlurParams, PrepareParams
from deblurflow.prepare import prepare_pairs, split_sequences
from deblurflow.prepared import (
    fingerprint,
    load_split,
    prepared_writer,
    read_info,
    read_manifest,
    write_prepared,
)
from deblurflow.resize import target_size
from deblurflow.synthesize import synthesize_tree

TRAIN_SEQS = ["seq_a", "seq_b", "seq_c", "seq_d"]
TEST_SEQS = ["seq_t1", "seq_t2"]


def make_pairs(root: Path, layout: dict[str, dict[str, tuple[int, int, int]]], seed=0) -> Path:
    """Raw random frames {split: {seq: (n, h, w)}} -> synthesized pairs (M=3); returns pairs dir."""
    rng = np.random.default_rng(seed)
    for split, seqs in layout.items():
        for seq, (n, h, w) in seqs.items():
            for i in range(n):
                frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                write_png(root / "raw" / split / seq / f"{i:06d}.png", frame)
    synthesize_tree(root / "raw", root / "pairs", BlurParams(frames=3, workers=1))
    return root / "pairs"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory) -> Path:
    """4 train sequences (2, 3, 2, 1 pairs) and 2 test sequences of 64x36 frames."""
    root = tmp_path_factory.mktemp("pairs")
    sizes = dict(zip(TRAIN_SEQS + TEST_SEQS, [6, 9, 7, 3, 6, 3], strict=True))
    layout = {
        "train": {s: (sizes[s], 36, 64) for s in TRAIN_SEQS},
        "test": {s: (sizes[s], 36, 64) for s in TEST_SEQS},
    }
    return make_pairs(root, layout)


@pytest.mark.parametrize(
    "w, h, size, expected",
    [
        (64, 36, 32, (32, 18)),
        (1280, 720, 640, (640, 360)),
        (36, 64, 32, (18, 32)),  # portrait: the long side is the height
        (100, 33, 50, (50, 17)),  # 16.5 rounds up
        (100, 31, 50, (50, 16)),  # 15.5 rounds up
        (64, 36, None, (64, 36)),
        (40, 40, 80, (80, 80)),
    ],
)
def test_target_size_keeps_aspect(w, h, size, expected):
    assert target_size(w, h, size) == expected


def test_arrays_agree_with_manifest_and_resized_pngs(pairs_dir, tmp_path):
    out = tmp_path / "prepared"
    info = prepare_pairs(pairs_dir, out, PrepareParams(size=32, val_sequences=1), seed=0)
    assert (info["width"], info["height"]) == (32, 18)
    assert info == json.loads((out / "info.json").read_text())
    assert info["blur"] == {"gamma": 2.2, "frames": 3, "stride": None}
    rows = read_csv(out / "manifest.csv")
    assert list(rows[0]) == ["split", "index", "sequence", "frame", "blur", "sharp"]
    for split in ("train", "val", "test"):
        split_rows = [r for r in rows if r["split"] == split]
        assert [int(r["index"]) for r in split_rows] == list(range(len(split_rows)))
        assert info["counts"][split] == len(split_rows) > 0
        for kind in ("blur", "sharp"):
            arr = np.load(out / f"{split}_{kind}.npy", mmap_mode="r")
            assert isinstance(arr, np.memmap)
            assert arr.dtype == np.uint8 and arr.shape == (len(split_rows), 18, 32, 3)
            for r in split_rows:
                src = read_rgb(pairs_dir / r[kind])  # RGB, as the array must be
                expected = cv2.resize(src, (32, 18), interpolation=cv2.INTER_AREA)
                np.testing.assert_array_equal(arr[int(r["index"])], expected)
                assert r[kind] == f"{'test' if split == 'test' else 'train'}/{r['sequence']}/" + (
                    f"{kind}/{r['frame']}.png"
                )
    assert sum(info["counts"].values()) == 2 + 3 + 2 + 1 + 2 + 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{s}_{k}.npy" for s in ("train", "val", "test") for k in ("blur", "sharp")]
        + ["info.json", "manifest.csv"]
    )


def test_splits_are_whole_sequences(pairs_dir, tmp_path):
    info = prepare_pairs(pairs_dir, tmp_path / "p", PrepareParams(size=None, val_sequences=2), 3)
    rows = read_csv(tmp_path / "p" / "manifest.csv")
    seqs = {s: {r["sequence"] for r in rows if r["split"] == s} for s in ("train", "val", "test")}
    assert not (seqs["train"] & seqs["val"]) and not (seqs["train"] & seqs["test"])
    assert not (seqs["val"] & seqs["test"])
    assert seqs["test"] == set(TEST_SEQS)  # GoPro's test split stays test
    assert seqs["train"] | seqs["val"] == set(TRAIN_SEQS)
    assert len(seqs["val"]) == 2
    assert {s: sorted(v) for s, v in seqs.items()} == info["sequences"]
    assert (info["width"], info["height"]) == (64, 36)  # size None keeps the frames


def test_validation_sequences_follow_the_seed(pairs_dir, tmp_path):
    params = PrepareParams(size=16, val_sequences=1)
    a = prepare_pairs(pairs_dir, tmp_path / "a", params, seed=7)
    b = prepare_pairs(pairs_dir, tmp_path / "b", params, seed=7)
    assert a["sequences"] == b["sequences"]
    for name in ("manifest.csv", "val_blur.npy", "train_sharp.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    expected = sorted(TRAIN_SEQS)[int(np.random.default_rng(7).choice(4, size=1, replace=False)[0])]
    assert a["sequences"]["val"] == [expected]
    # Different seeds do pick different sequences.
    picks = {tuple(split_sequences(TRAIN_SEQS, 1, seed)[1]) for seed in range(10)}
    assert len(picks) > 1


def test_too_few_training_sequences_is_an_error(pairs_dir, tmp_path):
    with pytest.raises(ValueError, match="val_sequences is 4 but there are only 4"):
        prepare_pairs(pairs_dir, tmp_path / "p", PrepareParams(val_sequences=4), seed=0)
    assert not (tmp_path / "p").exists()


def test_a_lone_training_sequence_validates_on_its_last_pairs(tmp_path):
    # One train clip (15 frames -> 5 pairs at M=3) and one test clip: the last
    # round(0.2 x 5) = 1 pair in time validates, the first 4 train.
    pairs = make_pairs(tmp_path, {"train": {"clip": (15, 36, 64)}, "test": {"t": (6, 36, 64)}})
    info = prepare_pairs(pairs, tmp_path / "p", PrepareParams(size=None, val_sequences=3), 0)
    rows = read_csv(tmp_path / "p" / "manifest.csv")
    frames = {s: [r["frame"] for r in rows if r["split"] == s] for s in ("train", "val")}
    assert frames == {"train": ["000001", "000004", "000007", "000010"], "val": ["000013"]}
    assert info["counts"] == {"train": 4, "val": 1, "test": 2}
    val_blur, _ = load_split(tmp_path / "p", "val")
    assert np.array_equal(val_blur[0], read_rgb(pairs / rows[4]["blur"]))
    # A lone sequence with a single pair cannot spare one.
    short = make_pairs(tmp_path / "s", {"train": {"c": (3, 36, 64)}, "test": {"t": (3, 36, 64)}})
    with pytest.raises(ValueError, match="only training sequence, c, has 1 pair"):
        prepare_pairs(short, tmp_path / "q", PrepareParams(), seed=0)


def test_mixed_aspect_ratios_name_the_sequence(tmp_path):
    layout = {
        "train": {"wide": (3, 36, 64), "other": (3, 36, 64), "square": (3, 40, 40)},
        "test": {"t": (3, 36, 64)},
    }
    pairs = make_pairs(tmp_path, layout)
    with pytest.raises(ValueError, match="sequence square") as err:
        prepare_pairs(pairs, tmp_path / "p", PrepareParams(size=32, val_sequences=1), seed=0)
    assert "32x32" in str(err.value) and "32x18" in str(err.value)


def test_failed_prepare_keeps_previous_output(pairs_dir, tmp_path):
    out = tmp_path / "prepared"
    prepare_pairs(pairs_dir, out, PrepareParams(size=16, val_sequences=1), seed=0)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = json.loads((pairs_dir / "manifest.json").read_text())
    manifest["pairs"][-1]["sharp"] = "test/nowhere/sharp/000001.png"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    for p in manifest["pairs"][:-1]:
        for kind in ("blur", "sharp"):
            (broken / p[kind]).parent.mkdir(parents=True, exist_ok=True)
            (broken / p[kind]).write_bytes((pairs_dir / p[kind]).read_bytes())
    last_blur = broken / manifest["pairs"][-1]["blur"]
    last_blur.parent.mkdir(parents=True, exist_ok=True)
    last_blur.write_bytes((pairs_dir / manifest["pairs"][-1]["blur"]).read_bytes())
    with pytest.raises(ValueError, match="nowhere"):
        prepare_pairs(broken, out, PrepareParams(size=16, val_sequences=1), seed=0)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "prepared"]


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="manifest.json"):
        prepare_pairs(tmp_path, tmp_path / "p", PrepareParams(), seed=0)


def test_real_highfps_frames_end_to_end(real_data, tmp_path):
    """161 real 240x180 gray frames -> 2 train + 1 test sequences -> pairs -> arrays."""
    real = real_data / "highfps-real" / "frames"
    if not real.is_dir():
        pytest.skip(f"real frames not found at {real}")
    frames = sorted(real.glob("*.png"))
    assert len(frames) == 161
    # GoPro names, so blur.frames 'auto' reads M = 7 from them.
    seqs = {
        ("train", "GOPR0001_07_00"): frames[0:60],  # 8 windows
        ("train", "GOPR0002_07_00"): frames[60:110],  # 7 windows
        ("test", "GOPR0003_07_00"): frames[110:161],  # 7 windows
    }
    raw = tmp_path / "raw"
    for (split, seq), paths in seqs.items():
        for i, path in enumerate(paths):
            write_png(raw / split / seq / f"{i:06d}.png", read_rgb(path))

    manifest = synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames="auto", workers=2))
    assert manifest["counts"] == {"train": 15, "test": 7, "skipped_sequences": 0}
    moving = 0
    for p in manifest["pairs"]:
        seq_dir = raw / p["split"] / p["sequence"]
        window = np.stack(
            [read_rgb(seq_dir / f"{i:06d}.png") for i in range(int(p["first"]), int(p["last"]) + 1)]
        )
        blur = read_rgb(tmp_path / "pairs" / p["blur"])
        sharp = read_rgb(tmp_path / "pairs" / p["sharp"])
        assert blur.shape == sharp.shape == (180, 240, 3)
        np.testing.assert_array_equal(blur, average_frames(list(window), 2.2))
        np.testing.assert_array_equal(sharp, window[3])
        # An average lies between the darkest and brightest value each pixel took.
        assert np.all(window.min(0) <= blur) and np.all(blur <= window.max(0))
        moving += int(np.sum(np.abs(blur.astype(int) - sharp.astype(int)) > 8))
    # The camera moves: some pixels of the blurred frames are far from the sharp ones.
    assert moving > 1000

    info = prepare_pairs(tmp_path / "pairs", tmp_path / "prepared", PrepareParams(size=120), 0)
    assert (info["width"], info["height"]) == (120, 90)
    counts = info["counts"]
    assert counts["test"] == 7 and sorted([counts["train"], counts["val"]]) == [7, 8]
    for split in ("train", "val", "test"):
        for arr in load_split(tmp_path / "prepared", split):
            assert arr.shape == (counts[split], 90, 120, 3)
            # Gray source: the three RGB channels are equal.
            assert np.array_equal(arr[..., 0], arr[..., 2])


# --- the format's writer and readers, as tests and bench use them ------------------------------


def _splits(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        split: tuple(rng.integers(0, 256, (n, 6, 10, 3), dtype=np.uint8) for _ in range(2))
        for split, n in (("train", 3), ("val", 1), ("test", 2))
    }


def test_write_prepared_round_trips_through_the_readers(tmp_path):
    splits = _splits()
    out = write_prepared(tmp_path / "p", splits, info_extra={"note": "x"})
    for split, (blur, sharp) in splits.items():
        got_blur, got_sharp = load_split(out, split)
        assert isinstance(got_blur, np.memmap) and got_blur.dtype == np.uint8
        np.testing.assert_array_equal(got_blur, blur)
        np.testing.assert_array_equal(got_sharp, sharp)
        rows = read_manifest(out, split)
        assert [r["index"] for r in rows] == list(range(len(blur)))
        assert [(r["sequence"], r["frame"]) for r in rows] == [
            (split, f"{i:06d}") for i in range(len(blur))
        ]
    assert read_info(out) == {
        "width": 10, "height": 6, "counts": {"train": 3, "val": 1, "test": 2}, "note": "x",
    }  # fmt: skip
    assert len(read_manifest(out)) == 6


def test_stage_output_reads_back_through_the_readers(pairs_dir, tmp_path):
    out = tmp_path / "prepared"
    info = prepare_pairs(pairs_dir, out, PrepareParams(size=32, val_sequences=1), seed=0)
    assert read_info(out) == info
    rows = read_manifest(out, "test")
    assert {r["sequence"] for r in rows} == set(TEST_SEQS)
    assert len(load_split(out, "test")[0]) == len(rows) == info["counts"]["test"]


def test_fingerprint_hashes_info_then_manifest(tmp_path):
    import hashlib

    out = write_prepared(tmp_path / "p", _splits())
    info, manifest = (out / "info.json").read_bytes(), (out / "manifest.csv").read_bytes()
    assert fingerprint(out) == hashlib.sha256(info + manifest).hexdigest()[:16]
    # Same content, same fingerprint; other rows or a missing file change it.
    assert fingerprint(write_prepared(tmp_path / "q", _splits(seed=1))) == fingerprint(out)
    rows = {"train": [{"sequence": "s", "frame": i, "blur": "", "sharp": ""} for i in range(3)]}
    other = write_prepared(tmp_path / "r", {"train": _splits()["train"]}, rows)
    assert fingerprint(other) != fingerprint(out)
    (out / "manifest.csv").unlink()
    assert fingerprint(out) == hashlib.sha256(info).hexdigest()[:16]
    assert fingerprint(tmp_path / "none") == hashlib.sha256(b"").hexdigest()[:16]


def test_a_failed_write_keeps_the_previous_folder(tmp_path):
    out = write_prepared(tmp_path / "p", _splits())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError, match="stop"):
        with prepared_writer(out, {"train": 1}, 4, 4, {"train": []}, {}) as arrays:
            arrays[("train", "blur")][:] = 7
            raise RuntimeError("stop")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # no temp folder left behind


def test_write_prepared_rejects_mismatched_arrays(tmp_path):
    blur = np.zeros((2, 6, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="train sharp: shape"):
        write_prepared(tmp_path / "p", {"train": (blur, blur[:1])})
    assert not (tmp_path / "p").exists()
