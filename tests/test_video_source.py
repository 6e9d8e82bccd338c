"""data.source video: clips encoded on the fly from real 536 fps frames and rendered frames."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from videos import encode, gray_frames, rendered

from deblurflow.images import read_rgb
from deblurflow.params import BlurParams, DataParams, Params
from deblurflow.sources import SourceError, fetch_raw
from deblurflow.sources.video import decode, find_clips
from deblurflow.synthesize import synthesize_tree

HIGHFPS = Path(__file__).resolve().parents[1] / "data" / "real" / "highfps-real"


@pytest.fixture(scope="module")
def real() -> list[np.ndarray]:
    """The first 40 real frames (240x180 gray, as RGB)."""
    paths = sorted((HIGHFPS / "frames").glob("image_*.png"))[:40]
    if len(paths) != 40:
        raise AssertionError(f"real frames not found in {HIGHFPS / 'frames'}")
    return gray_frames(paths)


def fetch(videos: Path, out: Path, seed: int = 0, **data) -> dict:
    params = Params(seed=seed, data=DataParams(source="video", videos=str(videos), **data))
    return fetch_raw(params, out, out.parent / "downloads")


def written(seq_dir: Path) -> list[np.ndarray]:
    files = sorted(seq_dir.glob("*.png"))
    assert [p.name for p in files] == [f"{i:06d}.png" for i in range(len(files))]
    return [read_rgb(p) for p in files]


def test_frames_in_order_with_the_measured_fps(real, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    moving = rendered(24)
    encode(clips / "street.mkv", real, fps=240)  # lossless: frames come back exactly
    encode(clips / "square.mkv", moving, fps=120)
    out = tmp_path / "raw"

    summary = fetch(clips, out, test_fraction=0.5)

    assert summary["sequences"] == {"train": ["street"], "test": ["square"]}  # seed 0
    assert summary["frames"] == {"train": 40, "test": 24}
    assert summary["fps"] == {"train/street": 240.0, "test/square": 120.0}
    assert json.loads((out / "source.json").read_text()) == summary
    for seq, source in (("train/street", real), ("test/square", moving)):
        frames = written(out / seq)
        assert len(frames) == len(source)
        assert all(np.array_equal(a, b) for a, b in zip(frames, source)), seq
    times = np.loadtxt(out / "test/square/timestamps.txt")
    np.testing.assert_allclose(times, np.arange(24) / 120, atol=1e-3)  # mkv keeps milliseconds


def test_phone_style_mp4_with_variable_frame_rate(real, tmp_path):
    """H.264 in MP4 at 240 fps with dropped frames: the declared average rate is not 240."""
    moving = rendered(40, w=160)  # the square moves 2 px a frame: every frame is distinct
    times = np.arange(50) / 240
    kept = np.delete(np.arange(50), [7, 8, 20, 33, 34, 35, 41, 44, 47, 49])  # 40 frames remain
    clips = tmp_path / "clips"
    clips.mkdir()
    encode(clips / "vfr.mp4", moving, fps=240, times=list(times[kept]))
    encode(clips / "other.mp4", real[:10], fps=240)

    summary = fetch(clips, tmp_path / "raw", test_fraction=0.5)

    split = "train" if "vfr" in summary["sequences"]["train"] else "test"
    clip = summary["clips"][f"{split}/vfr"]
    assert clip["fps"] == 240.0
    assert clip["declared_fps"] == pytest.approx(200.0)  # the container: 40 frames in 0.2 s
    assert clip["variable_frame_rate"] and clip["frames"] == 40
    stamps = np.loadtxt(tmp_path / "raw" / split / "vfr" / "timestamps.txt")
    np.testing.assert_allclose(stamps, times[kept], atol=1e-6)
    frames = written(tmp_path / "raw" / split / "vfr")
    # Lossy, but each frame is closest to its own source frame: order and count are right.
    for i, frame in enumerate(frames):
        errors = [np.abs(frame.astype(int) - s).mean() for s in moving]
        assert int(np.argmin(errors)) == i and errors[i] < 1.0, (i, errors[i])


@pytest.mark.parametrize("rotation, quarter_turns", [(90, 1), (-90, 3), (180, 2)])
def test_rotation_metadata_makes_frames_upright(rotation, quarter_turns, tmp_path):
    frames = rendered(4, h=48, w=64)
    path = encode(tmp_path / "portrait.mp4", frames, fps=240, rotation=rotation)

    decoded = [rgb for _, rgb, _ in decode(path)]

    expected = np.rot90(frames[0], quarter_turns)
    assert decoded[0].shape == expected.shape
    assert np.abs(decoded[0].astype(int) - expected).mean() < 2.0
    # OpenCV's own FFmpeg build applies the same display matrix (CAP_PROP_ORIENTATION_AUTO).
    ok, bgr = cv2.VideoCapture(str(path)).read()
    assert ok and np.abs(bgr[:, :, ::-1].astype(int) - decoded[0]).mean() < 2.0


def test_clips_are_split_whole_by_seed_or_by_folders(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for k in range(4):
        (clips / f"c{k}.mov").write_bytes(b"")  # find_clips only lists files
    (clips / "notes.txt").write_text("not a clip")

    found = find_clips(clips, test_fraction=0.3, seed=0)

    assert len(found["test"]) == 1 and len(found["train"]) == 3  # round(4 * 0.3) = 1
    assert sorted([*found["train"], *found["test"]]) == ["c0", "c1", "c2", "c3"]
    splits = {tuple(find_clips(clips, 0.3, seed)["test"]) for seed in range(8)}
    assert len(splits) > 1 and tuple(find_clips(clips, 0.3, 0)["test"]) == tuple(found["test"])

    split_root = tmp_path / "split"
    for split, name in (("train", "a.mp4"), ("train", "b.mkv"), ("test", "c.MOV")):
        (split_root / split).mkdir(parents=True, exist_ok=True)
        (split_root / split / name).write_bytes(b"")
    found = find_clips(split_root, 0.3, 0)
    assert {s: sorted(v) for s, v in found.items()} == {"train": ["a", "b"], "test": ["c"]}


def hand_blur(frames: list[np.ndarray], gamma: float) -> np.ndarray:
    """Mean in linear light, written out in float64 independently of deblurflow.blur."""
    linear = np.mean([(f / 255.0) ** gamma for f in frames], axis=0)
    return np.floor(255.0 * linear ** (1.0 / gamma) + 0.5).astype(np.uint8)


def test_exposure_gives_each_clip_its_own_m_and_the_pairs_are_decoded_means(real, tmp_path):
    clips = tmp_path / "clips"
    for split, name, frames, fps in (
        ("train", "real240.mkv", real[:21], 240),
        ("train", "short.mkv", rendered(2), 240),  # 2 frames < one 7-frame window: skipped
        ("test", "square120.mp4", rendered(9), 120),
    ):
        (clips / split).mkdir(parents=True, exist_ok=True)
        encode(clips / split / name, frames, fps)
    raw, pairs = tmp_path / "raw", tmp_path / "pairs"
    fetch(clips, raw)

    manifest = synthesize_tree(raw, pairs, BlurParams(frames=None, exposure_ms=30, workers=1))

    # 30 ms: 7.2 frames at 240 fps -> 7; 3.6 at 120 fps -> 3.
    assert manifest["sequences"] == {
        "train/real240": {"m": 7, "fps": 240.0},
        "test/square120": {"m": 3, "fps": 120.0},
    }
    assert manifest["counts"] == {"train": 3, "test": 3, "skipped_sequences": 1}
    assert manifest["skipped"][0]["sequence"] == "short"
    for row in manifest["pairs"]:
        seq_dir = raw / row["split"] / row["sequence"]
        first, last = int(row["first"]), int(row["last"])
        assert last - first + 1 == row["m"]
        decoded = [read_rgb(seq_dir / f"{i:06d}.png") for i in range(first, last + 1)]
        blur = read_rgb(pairs / row["blur"])
        diff = np.abs(blur.astype(int) - hand_blur(decoded, 2.2))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.99, row["blur"]  # float32 rounding
        assert np.array_equal(read_rgb(pairs / row["sharp"]), decoded[row["m"] // 2])
    # The convention matters: on the moving square the plain sRGB mean (gamma 1) differs.
    row = next(r for r in manifest["pairs"] if r["split"] == "test")
    decoded = [read_rgb(raw / "test/square120" / f"{i:06d}.png") for i in range(3)]
    srgb = hand_blur(decoded, 1.0).astype(int)
    assert np.abs(read_rgb(pairs / row["blur"]).astype(int) - srgb).max() > 10


def test_exposure_needs_a_known_frame_rate(real, tmp_path):
    raw = tmp_path / "raw"
    for split in ("train", "test"):
        (raw / split / "seq").mkdir(parents=True)
        for i, frame in enumerate(real[:7]):
            cv2.imwrite(str(raw / split / "seq" / f"{i:06d}.png"), frame)
    with pytest.raises(ValueError, match="frame rate of sequence 'seq' is unknown"):
        synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames=None, exposure_ms=30))
    (raw / "source.json").write_text(json.dumps({"fps": {"train/seq": 60, "test/seq": 60}}))
    with pytest.raises(ValueError, match=r"'seq': an exposure of 20 ms at 60 fps spans 1.20"):
        synthesize_tree(raw, tmp_path / "pairs", BlurParams(frames=None, exposure_ms=20))
    assert not (tmp_path / "pairs").exists()


# --- bad input: one error naming the file, the previous output untouched ---------------------


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        silence = np.zeros((1, 800), np.int16)
        frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.mark.parametrize(
    "case, message",
    [
        ("junk", "cannot read as a video"),
        ("truncated_mp4", "cannot read as a video"),  # its index was at the end
        ("truncated_faststart", r"truncated, \d+ of the 40 frames its header declares"),
        ("truncated_mkv", r"truncated, frames stop at 0\.\d+ s of the 0\.167 s"),
        ("audio_only", "no video stream"),
        ("slow", r"30\.0 fps, under 60.*data\.allow_low_fps: true"),
        ("single_frame", "1 decodable frame"),
    ],
)
def test_bad_clip_is_one_error_naming_it_and_nothing_is_written(case, message, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    encode(clips / "good.mkv", rendered(12), fps=240)
    bad = clips / ("bad.mp4" if case.endswith(("mp4", "faststart")) else "bad.mkv")
    if case == "junk":
        bad.write_bytes(b"not a video at all" * 50)
    elif case == "truncated_mp4":
        _truncate(encode(bad, rendered(40), fps=240), 0.7)
    elif case == "truncated_faststart":
        _truncate(encode(bad, rendered(40), fps=240, faststart=True), 0.8)
    elif case == "truncated_mkv":
        _truncate(encode(bad, rendered(40), fps=240), 0.5)
    elif case == "audio_only":
        _audio_only(bad)
    elif case == "slow":
        encode(bad, rendered(12), fps=30)
    else:
        encode(bad, rendered(1), fps=240)
    out = tmp_path / "raw"
    out.mkdir()
    (out / "previous.txt").write_text("the previous good output")

    with pytest.raises(SourceError, match=message) as err:
        fetch(clips, out)

    assert str(err.value).startswith(f"{bad}: ")
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".raw")] == []
    if case == "slow":  # forced: accepted, with the measured rate recorded
        summary = fetch(clips, out, allow_low_fps=True)
        assert sorted(summary["fps"].values()) == [30.0, 240.0]


def test_missing_or_single_clip_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="data.videos does not exist"):
        fetch(tmp_path / "nowhere", tmp_path / "raw")
    clip = encode(tmp_path / "one.mkv", rendered(8), fps=240)
    with pytest.raises(SourceError, match="single clip; .* at least 2 are needed"):
        fetch(clip, tmp_path / "raw")
    (tmp_path / "dup").mkdir()
    for name in ("walk.mp4", "walk.mov"):
        (tmp_path / "dup" / name).write_bytes(b"")
    with pytest.raises(SourceError, match="same sequence name 'walk'"):
        fetch(tmp_path / "dup", tmp_path / "raw")
