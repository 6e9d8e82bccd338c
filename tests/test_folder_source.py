"""The folder source on real high-frame-rate frames (data/real/highfps-real, 161 gray PNGs
in the repo)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblurflow.images import ImageError
from deblurflow.params import DataParams, Params
from deblurflow.sources import SourceError, fetch_raw
from deblurflow.sources.folder import find_sequences

HIGHFPS = Path(__file__).resolve().parents[1] / "data" / "real" / "highfps-real"


@pytest.fixture(scope="module")
def frames() -> list[Path]:
    found = sorted((HIGHFPS / "frames").glob("image_*.png"))
    if len(found) != 161:
        raise AssertionError(f"real frames not found: expected 161 PNGs in {HIGHFPS / 'frames'}")
    return found


@pytest.fixture
def small_tree(frames, tmp_path) -> Path:
    """Five real frames in train/a, five in test/b."""
    root = tmp_path / "mine"
    _link(frames[:5], root / "train" / "a")
    _link(frames[5:10], root / "test" / "b")
    return root


def _link(files: list[Path], folder: Path, names: list[str] | None = None) -> None:
    folder.mkdir(parents=True)
    for i, src in enumerate(files):
        (folder / (names[i] if names else src.name)).symlink_to(src)


def _fetch(root: Path, out: Path, seed: int = 0, test_fraction: float = 0.3) -> dict:
    data = DataParams(source="folder", folder=str(root), test_fraction=test_fraction)
    return fetch_raw(Params(seed=seed, data=data), out, out.parent / "downloads")


def _gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img.ndim == 2
    return img


def test_train_test_tree_is_kept(frames, tmp_path):
    root = tmp_path / "mine"
    _link(frames[:60], root / "train" / "street_a")
    # Unpadded names: natural order puts f2 before f10 (a plain sort would not).
    _link(frames[60:110], root / "train" / "street_b", [f"f{i}.png" for i in range(50)])
    _link(frames[110:], root / "test" / "street_c")
    out = tmp_path / "raw"

    summary = _fetch(root, out)

    assert summary["sequences"] == {"train": ["street_a", "street_b"], "test": ["street_c"]}
    assert summary["frames"] == {"train": 110, "test": 51}
    assert json.loads((out / "source.json").read_text()) == summary
    expected = {"train/street_a": frames[:60], "train/street_b": frames[60:110]}
    expected["test/street_c"] = frames[110:]
    for seq, sources in expected.items():
        written = sorted((out / seq).iterdir())
        assert [p.name for p in written] == [f"{i:06d}.png" for i in range(len(sources))]
        for dst, src in zip(written, sources):
            rgb = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
            assert rgb.dtype == np.uint8 and rgb.shape == (180, 240, 3), dst
            gray = _gray(src)
            for c in range(3):  # gray replicated into R, G and B
                assert np.array_equal(rgb[:, :, c], gray), (dst, src)


def test_sequence_folders_are_split_by_whole_sequences(frames, tmp_path):
    root = tmp_path / "mine"
    chunks = {f"seq{k}": frames[k * 40 : (k + 1) * 40 if k < 3 else None] for k in range(4)}
    for name, files in chunks.items():
        _link(files, root / name)

    summary = _fetch(root, tmp_path / "raw", seed=0, test_fraction=0.3)

    train, test = summary["sequences"]["train"], summary["sequences"]["test"]
    assert len(test) == 1 and len(train) == 3  # round(4 * 0.3) = 1
    assert sorted(train + test) == sorted(chunks)
    for split, names in summary["sequences"].items():
        for name in names:
            written = sorted((tmp_path / "raw" / split / name).iterdir())
            assert len(written) == len(chunks[name])
            first = cv2.imread(str(written[0]), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(first[:, :, 1], _gray(chunks[name][0]))

    # The split depends on the seed alone: same seed, same split; other seeds move it.
    splits = {tuple(find_sequences(root, 0.3, seed)["test"]) for seed in range(8)}
    assert tuple(find_sequences(root, 0.3, 0)["test"]) == tuple(test)
    assert len(splits) > 1


def test_both_splits_get_a_sequence_whatever_the_fraction(frames, tmp_path):
    root = tmp_path / "mine"
    _link(frames[:10], root / "a")
    _link(frames[10:20], root / "b")
    for fraction in (0.01, 0.99):
        found = find_sequences(root, fraction, seed=0)
        assert len(found["train"]) == 1 and len(found["test"]) == 1


def test_fewer_than_two_sequences_is_an_error(frames, tmp_path):
    root = tmp_path / "mine"
    _link(frames[:10], root / "only")
    with pytest.raises(SourceError, match=r"found 1 sequence \(only\); at least 2"):
        _fetch(root, tmp_path / "raw")
    with pytest.raises(SourceError, match="directly in it"):
        _fetch(HIGHFPS / "frames", tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_unreadable_frame_names_the_file(small_tree, tmp_path):
    root = small_tree
    bad = root / "train" / "a" / "image_00003.png"
    bad.unlink()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageError, match=str(bad)):
        _fetch(root, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_frames_of_different_sizes_name_the_file_and_sizes(frames, small_tree, tmp_path):
    root = small_tree
    small = root / "test" / "b" / "image_00008.png"
    small.unlink()
    cv2.imwrite(str(small), cv2.resize(_gray(frames[8]), (120, 90)))
    out = tmp_path / "raw"
    out.mkdir()
    (out / "previous.txt").write_text("the previous good output")

    with pytest.raises(SourceError, match=rf"{small}: size 120x90 differs from 240x180"):
        _fetch(root, out)
    assert [p.name for p in out.iterdir()] == ["previous.txt"]


def test_no_png_frames_names_the_folder(tmp_path):
    root = tmp_path / "empty"
    (root / "seq").mkdir(parents=True)
    (root / "seq" / "notes.txt").write_text("no frames here")
    with pytest.raises(SourceError, match=rf"{root}: no PNG frames"):
        _fetch(root, tmp_path / "raw")
    with pytest.raises(SourceError, match="does not exist"):
        _fetch(tmp_path / "missing", tmp_path / "raw")


def test_missing_test_split_is_an_error(frames, tmp_path):
    root = tmp_path / "mine"
    _link(frames[:5], root / "train" / "a")
    (root / "test").mkdir()
    with pytest.raises(SourceError, match=r"test: no sequences with PNG frames"):
        _fetch(root, tmp_path / "raw")
    shutil.rmtree(root / "test")
    with pytest.raises(SourceError, match=r"test: no sequences"):
        _fetch(root, tmp_path / "raw")
