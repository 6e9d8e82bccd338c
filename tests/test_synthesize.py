"""The synthesize stage on tiny raw trees: values, names, manifest, bad input, atomicity."""

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblurflow import synthesize as synth
from deblurflow.blur import average_frames
from deblurflow.images import ImageError, read_rgb, write_png
from deblurflow.params import BlurParams
from deblurflow.synthesize import synthesize_tree

H, W = 12, 16


def make_raw(root: Path, layout: dict[str, dict[str, int]], seed: int = 0, size=(H, W)):
    """Write random RGB frames as root/{split}/SEQ/NNNNNN.png; return {(split, seq): [frames]}."""
    rng = np.random.default_rng(seed)
    frames = {}
    for split, seqs in layout.items():
        for seq, n in seqs.items():
            frames[(split, seq)] = [
                rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)
            ]
            for i, frame in enumerate(frames[(split, seq)]):
                write_png(root / split / seq / f"{i:06d}.png", frame)
    return frames


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("gamma", [2.2, 1.0])
def test_pairs_are_averages_and_sharp_is_the_raw_middle_frame(tmp_path, gamma):
    raw, out = tmp_path / "raw", tmp_path / "pairs"
    frames = make_raw(raw, {"train": {"seq_a": 7, "seq_b": 6}, "test": {"seq_c": 3}})
    manifest = synthesize_tree(raw, out, BlurParams(frames=3, gamma=gamma, workers=1))

    assert manifest["counts"] == {"train": 4, "test": 1, "skipped_sequences": 0}
    assert manifest["gamma"] == gamma and manifest["frames"] == 3 and manifest["stride"] is None
    assert manifest == json.loads((out / "manifest.json").read_text())
    got = [
        (p["split"], p["sequence"], p["frame"], p["first"], p["last"]) for p in manifest["pairs"]
    ]
    assert got == [
        ("train", "seq_a", "000001", "000000", "000002"),
        ("train", "seq_a", "000004", "000003", "000005"),  # the 7th frame fits no window
        ("train", "seq_b", "000001", "000000", "000002"),
        ("train", "seq_b", "000004", "000003", "000005"),
        ("test", "seq_c", "000001", "000000", "000002"),
    ]
    for p in manifest["pairs"]:
        seq_frames = frames[(p["split"], p["sequence"])]
        first, mid = int(p["first"]), int(p["frame"])
        assert p["m"] == 3 and mid == first + 1
        assert p["blur"] == f"{p['split']}/{p['sequence']}/blur/{p['frame']}.png"
        assert p["sharp"] == f"{p['split']}/{p['sequence']}/sharp/{p['frame']}.png"
        expected = average_frames(seq_frames[first : first + 3], gamma)
        np.testing.assert_array_equal(read_rgb(out / p["blur"]), expected)
        raw_mid = raw / p["split"] / p["sequence"] / f"{p['frame']}.png"
        assert (out / p["sharp"]).read_bytes() == raw_mid.read_bytes()
    # Only the GOPRO_Large layout and the manifest, nothing else.
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert files == sorted(
        [p["blur"] for p in manifest["pairs"]] + [p["sharp"] for p in manifest["pairs"]]
    )


def test_gray_raw_frames_give_rgb_sharp(tmp_path):
    # A gray PNG's bytes would not be RGB; the sharp image is then written from the decoded RGB.
    raw, out = tmp_path / "raw", tmp_path / "pairs"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (raw / split / "s").mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(
                str(raw / split / "s" / f"{i:06d}.png"), rng.integers(0, 256, (H, W), np.uint8)
            )
    manifest = synthesize_tree(raw, out, BlurParams(frames=3, workers=1))
    sharp = read_rgb(out / manifest["pairs"][0]["sharp"])
    np.testing.assert_array_equal(sharp, read_rgb(raw / "train" / "s" / "000001.png"))
    assert cv2.imread(str(out / manifest["pairs"][0]["sharp"]), cv2.IMREAD_UNCHANGED).ndim == 3


def test_auto_takes_m_from_gopro_names(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "pairs"
    make_raw(raw, {"train": {"GOPR0372_07_00": 15}, "test": {"GOPR0384_05_00": 5}})
    manifest = synthesize_tree(raw, out, BlurParams(frames="auto", workers=1))
    assert manifest["frames"] == "auto"
    got = [(p["sequence"], p["m"], p["first"], p["frame"], p["last"]) for p in manifest["pairs"]]
    assert got == [
        ("GOPR0372_07_00", 7, "000000", "000003", "000006"),
        ("GOPR0372_07_00", 7, "000007", "000010", "000013"),
        ("GOPR0384_05_00", 5, "000000", "000002", "000004"),
    ]


def test_auto_on_other_names_is_a_clear_error(tmp_path):
    raw = tmp_path / "raw"
    make_raw(raw, {"train": {"sample_train_00": 7}, "test": {"sample_test_00": 7}})
    with pytest.raises(ValueError, match="set blur.frames"):
        synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames="auto", workers=1))
    assert not (tmp_path / "pairs").exists()


def test_stride_below_m_overlaps_and_decodes_each_frame_once(tmp_path, monkeypatch):
    raw, out = tmp_path / "raw", tmp_path / "pairs"
    frames = make_raw(raw, {"train": {"s": 7}, "test": {"t": 3}})
    decoded = []

    def counting_read_rgb(path):
        decoded.append(Path(path).relative_to(raw))
        return read_rgb(path)

    monkeypatch.setattr(synth, "read_rgb", counting_read_rgb)
    manifest = synthesize_tree(raw, out, BlurParams(frames=3, stride=1, workers=1))
    train = [p for p in manifest["pairs"] if p["split"] == "train"]
    assert [(p["first"], p["frame"], p["last"]) for p in train] == [
        (f"{i:06d}", f"{i + 1:06d}", f"{i + 2:06d}") for i in range(5)
    ]
    for i, p in enumerate(train):
        expected = average_frames(frames[("train", "s")][i : i + 3], 2.2)
        np.testing.assert_array_equal(read_rgb(out / p["blur"]), expected)
    # 7 + 3 frames, each decoded exactly once although train windows overlap.
    assert len(decoded) == 10 and len(set(decoded)) == 10


def test_short_sequence_is_skipped_and_counted(tmp_path, caplog):
    raw, out = tmp_path / "raw", tmp_path / "pairs"
    make_raw(raw, {"train": {"long": 6, "short": 2}, "test": {"t": 3}})
    with caplog.at_level(logging.WARNING, logger="deblurflow.synthesize"):
        manifest = synthesize_tree(raw, out, BlurParams(frames=3, workers=1))
    assert manifest["counts"] == {"train": 2, "test": 1, "skipped_sequences": 1}
    assert len(manifest["skipped"]) == 1
    skip = manifest["skipped"][0]
    assert (skip["split"], skip["sequence"]) == ("train", "short")
    assert "2 PNG frames" in skip["reason"]
    assert "short" in caplog.text and "skipping" in caplog.text
    assert not (out / "train" / "short").exists()
    assert {p["sequence"] for p in manifest["pairs"]} == {"long", "t"}


def test_split_without_any_pair_is_an_error(tmp_path):
    raw = tmp_path / "raw"
    make_raw(raw, {"train": {"long": 6}, "test": {"t1": 2, "t2": 1}})
    with pytest.raises(ValueError, match="test.*no sequence has enough frames"):
        synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames=3, workers=1))


def test_missing_split_folder_is_an_error(tmp_path):
    raw = tmp_path / "raw"
    make_raw(raw, {"train": {"s": 3}})
    with pytest.raises(ValueError, match="test: no such folder"):
        synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames=3, workers=1))


@pytest.mark.parametrize("workers", [1, 2])
def test_frames_of_different_sizes_name_the_file_and_sizes(tmp_path, workers):
    raw = tmp_path / "raw"
    make_raw(raw, {"train": {"s": 6, "u": 3}, "test": {"t": 3}})
    odd = raw / "train" / "s" / "000004.png"
    write_png(odd, np.zeros((H, W + 4, 3), np.uint8))
    with pytest.raises(ImageError) as err:
        synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames=3, workers=workers))
    message = str(err.value)
    assert str(odd) in message and f"{W + 4}x{H}" in message and f"{W}x{H}" in message


@pytest.mark.parametrize("workers", [1, 2])
def test_unreadable_frame_names_the_file(tmp_path, workers):
    raw = tmp_path / "raw"
    make_raw(raw, {"train": {"s": 3, "u": 3}, "test": {"t": 3}})
    bad = raw / "test" / "t" / "000001.png"
    bad.write_bytes(b"this is not a png at all")
    with pytest.raises(ImageError, match="cannot decode") as err:
        synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames=3, workers=workers))
    assert str(bad) in str(err.value)


def test_failed_run_leaves_previous_output_intact(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "pairs"
    make_raw(raw, {"train": {"s": 6}, "test": {"t": 3}})
    synthesize_tree(raw, out, BlurParams(frames=3, workers=1))
    before = tree_bytes(out)

    (raw / "train" / "s" / "000005.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ImageError):
        synthesize_tree(raw, out, BlurParams(frames=3, workers=2))
    assert tree_bytes(out) == before
    # No temp folder is left beside the output either.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs", "raw"]


def test_parallel_output_equals_inline_output(tmp_path):
    raw = tmp_path / "raw"
    make_raw(raw, {"train": {"a": 9, "b": 7, "c": 5}, "test": {"d": 8, "e": 3}})
    inline = synthesize_tree(raw, tmp_path / "inline", BlurParams(frames=3, stride=2, workers=1))
    parallel = synthesize_tree(raw, tmp_path / "par", BlurParams(frames=3, stride=2, workers=2))
    assert inline == parallel
    assert inline["counts"] == {"train": 4 + 3 + 2, "test": 3 + 1, "skipped_sequences": 0}
    assert tree_bytes(tmp_path / "inline") == tree_bytes(tmp_path / "par")
