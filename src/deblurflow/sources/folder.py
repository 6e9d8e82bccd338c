"""The user's own high-frame-rate frames: ``PATH/{train,test}/SEQ/*.png`` or ``PATH/SEQ/*.png``.

Frames are decoded (gray and 16-bit become 8-bit RGB) and written as NNNNNN.png from 000000 in
natural name order (frame_2 before frame_10). Without train/ and test/ folders, whole sequences
are split with the seed: neighbouring frames are near duplicates, so a split by frame would leak
test content into training.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from deblurflow.images import read_rgb, write_png
from deblurflow.sources.common import SPLITS, SourceError, natural_key, split_sequences

log = logging.getLogger(__name__)


def _frames(seq_dir: Path) -> list[Path]:
    """The PNG frames of one sequence folder in natural order (hidden files skipped)."""
    files = [
        p
        for p in seq_dir.iterdir()
        if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def _sequences(parent: Path) -> dict[str, list[Path]]:
    """{name: frames} of the sub-folders of parent that hold PNG frames."""
    found = {}
    for seq_dir in sorted(parent.iterdir(), key=lambda p: natural_key(p.name)):
        if seq_dir.is_dir() and not seq_dir.name.startswith("."):
            frames = _frames(seq_dir)
            if frames:
                found[seq_dir.name] = frames
            else:
                log.warning("%s: no PNG frames, skipped", seq_dir)
    return found


def find_sequences(root: Path, test_fraction: float, seed: int) -> dict[str, dict[str, list[Path]]]:
    """{split: {sequence: frames}} of root, split by whole sequences when root has no splits."""
    if not root.is_dir():
        raise SourceError(f"{root}: data.folder does not exist or is not a folder")
    if any((root / split).is_dir() for split in SPLITS):
        found = {
            split: _sequences(root / split) if (root / split).is_dir() else {} for split in SPLITS
        }
        for split in SPLITS:
            if not found[split]:
                raise SourceError(
                    f"{root / split}: no sequences with PNG frames (expected {split}/SEQ/*.png)"
                )
        return found

    sequences = _sequences(root)
    if not sequences:
        loose = bool(_frames(root))
        where = "PNG frames directly in it, not in SEQ sub-folders" if loose else "no PNG frames"
        raise SourceError(f"{root}: {where}; expected {{train,test}}/SEQ/*.png or SEQ/*.png")
    if len(sequences) < 2:
        raise SourceError(
            f"{root}: found {len(sequences)} sequence ({next(iter(sequences))}); at least 2 are"
            " needed to split into train and test by whole sequences (or make train/ and test/)"
        )
    test = set(split_sequences(list(sequences), test_fraction, seed))
    return {
        "train": {n: f for n, f in sequences.items() if n not in test},
        "test": {n: f for n, f in sequences.items() if n in test},
    }


def copy_folder(
    root: Path, test_fraction: float, seed: int, out_dir: Path
) -> dict[str, dict[str, int]]:
    """Write root's frames as out_dir/{train,test}/SEQ/NNNNNN.png; return {split: {seq: n}}."""
    found = find_sequences(Path(root).expanduser(), test_fraction, seed)
    counts: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
    total = sum(len(frames) for seqs in found.values() for frames in seqs.values())
    with tqdm(total=total, unit="frame", desc="frames", disable=None) as bar:
        for split in SPLITS:
            for seq, frames in found[split].items():
                first = None
                for i, path in enumerate(frames):
                    rgb = read_rgb(path)  # (H, W, 3) uint8; raises ImageError naming the file
                    if first is None:
                        first = (path, rgb.shape)
                    elif rgb.shape != first[1]:
                        raise SourceError(
                            f"{path}: size {rgb.shape[1]}x{rgb.shape[0]} differs from "
                            f"{first[1][1]}x{first[1][0]} of {first[0].name}, the first frame "
                            f"of sequence {seq}"
                        )
                    write_png(out_dir / split / seq / f"{i:06d}.png", rgb)
                    bar.update()
                counts[split][seq] = len(frames)
    log.info("%s: train %s, test %s", root, sorted(counts["train"]), sorted(counts["test"]))
    return counts
