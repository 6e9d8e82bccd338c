"""Raw high-frame-rate frames for the download stage: the sample, GOPRO_Large_all, a folder of
frames or a folder of slow-motion video clips.

Every source writes the same layout, ``out_dir/{train,test}/SEQ/NNNNNN.png`` (8-bit RGB PNG,
one size per sequence), plus ``out_dir/source.json`` describing what was fetched, with the
frame rate of each sequence where it is known (``fps``: {"split/SEQ": frames per second}).
The whole tree is built in a temp folder and swapped in at the end, so a crash or bad input
leaves the previous output or none, never half a tree.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from deblurflow.atomic import atomic_dir, write_json
from deblurflow.params import Params
from deblurflow.processes import cpu_workers
from deblurflow.sources import folder, gopro, sample, video
from deblurflow.sources.common import SourceError, natural_key

__all__ = ["SourceError", "fetch_raw", "natural_key"]

log = logging.getLogger(__name__)

GOPRO_FPS = 240.0  #: GOPRO_Large_all's frame rate, which the sample imitates


def _constant_fps(counts: dict[str, dict[str, int]], fps: float) -> dict[str, float]:
    return {f"{split}/{seq}": fps for split, seqs in counts.items() for seq in seqs}


def fetch_raw(params: Params, out_dir: str | Path, downloads_dir: str | Path) -> dict[str, Any]:
    """Fetch params.data.source into out_dir; return the summary also written to source.json."""
    data = params.data
    out_dir = Path(out_dir)
    summary: dict[str, Any] = {"source": data.source}
    if data.source == "gopro":
        # Download before touching out_dir: a failed or bad download leaves the old output.
        archive = gopro.obtain_archive(data, Path(downloads_dir))
        summary.update(url=data.url, archive=str(data.archive or archive), sha256=data.sha256)
    with atomic_dir(out_dir) as tmp:
        if data.source == "sample":
            counts = sample.render_sample(data.sample, params.seed, tmp, cpu_workers())
            summary.update(
                seed=params.seed,
                photos={
                    "train": list(sample.train_photos(data.sample.photos)),
                    "test": list(sample.PHOTOS["test"]),
                },
            )
            summary["fps"] = _constant_fps(counts, GOPRO_FPS)
        elif data.source == "gopro":
            counts = gopro.extract_frames(archive, tmp)
            summary["fps"] = _constant_fps(counts, GOPRO_FPS)
        elif data.source == "folder":
            counts = folder.copy_folder(Path(data.folder), data.test_fraction, params.seed, tmp)
            summary.update(folder=str(data.folder))
        elif data.source == "video":
            counts, clips = video.extract_videos(
                Path(data.videos), data.test_fraction, params.seed, data.allow_low_fps, tmp
            )
            summary.update(videos=str(data.videos), clips=clips)
            summary["fps"] = {key: clip["fps"] for key, clip in clips.items()}
        else:  # pragma: no cover - DataParams only admits the sources above
            raise SourceError(f"unknown data.source {data.source!r}")
        summary["sequences"] = {split: sorted(seqs) for split, seqs in counts.items()}
        summary["frames"] = {split: sum(seqs.values()) for split, seqs in counts.items()}
        write_json(tmp / "source.json", summary)
    log.info(
        "%s: %d train sequences (%d frames), %d test sequences (%d frames) -> %s",
        data.source,
        len(counts["train"]),
        summary["frames"]["train"],
        len(counts["test"]),
        summary["frames"]["test"],
        out_dir,
    )
    return summary
