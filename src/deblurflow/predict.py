"""``deblurflow predict``: deblur files and folders of real photos, one bad file never stops it.

Inputs are image files and folders (their images, ``recursive`` also those in sub-folders,
mirrored under the output folder). Each output is a PNG named ``STEM{suffix}.png``; when two
inputs would get the same name (``x.png`` and ``x.jpg`` in one folder, or two ``x.png`` from
different folders given as files) their extension, then a counter, tells them apart
(``x_jpg_deblurred.png``, ``x_png_deblurred.png``), so no output overwrites another.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from deblurflow.images import ImageError
from deblurflow.photos import Photo, read_photo, write_photo
from deblurflow.tiling import Runner, deblur_tiled

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Job:
    """One input file and the folder (relative to the output folder) its result goes to."""

    source: Path
    subdir: Path = Path()


def collect_inputs(paths: list[Path], recursive: bool = False) -> list[Job]:
    """Files as given; folders expanded to their images (sorted; ``recursive``: sub-folders)."""
    jobs: list[Job] = []
    for p in paths:
        if p.is_dir():
            found = p.rglob("*") if recursive else p.iterdir()
            images = sorted(q for q in found if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            jobs += [Job(q, q.parent.relative_to(p)) for q in images]
        elif p.exists():
            jobs.append(Job(p))
        else:
            raise ImageError(f"{p}: no such file or folder")
    if not jobs:
        where = ", ".join(map(str, paths))
        hint = "" if recursive else " (sub-folders are searched with --recursive)"
        raise ImageError(f"no images found in {where}{hint}")
    return jobs


def output_paths(jobs: list[Job], out_dir: Path, suffix: str) -> list[Path]:
    """A distinct output path per job: STEM{suffix}.png, then STEM_EXT{suffix}.png, then _N."""

    def plain(j: Job) -> Path:
        return j.subdir / f"{j.source.stem}{suffix}.png"

    def with_ext(j: Job) -> Path:
        ext = j.source.suffix.lstrip(".").lower()
        return j.subdir / f"{j.source.stem}_{ext}{suffix}.png"

    plain_count = Counter(plain(j) for j in jobs)
    names = [plain(j) if plain_count[plain(j)] == 1 else with_ext(j) for j in jobs]
    seen: Counter[Path] = Counter()
    taken = set(names)
    unique = []
    for name in names:
        seen[name] += 1
        if seen[name] > 1:  # still a clash: the same name and extension in two places
            n = seen[name]
            while (candidate := name.with_name(f"{name.stem}_{n}{name.suffix}")) in taken:
                n += 1
            taken.add(candidate)
            name = candidate
        unique.append(out_dir / name)
    return unique


def predict_files(
    run: Runner,
    jobs: list[Job],
    out_dir: Path,
    suffix: str = "_deblurred",
    tile: int = 0,
    overlap: int = 0,
) -> int:
    """Deblur every job into ``out_dir`` with a progress bar; returns how many failed.

    A file that cannot be read, deblurred or written is reported (one line naming it) and
    skipped; the others are still processed.
    """
    failed = 0
    t0 = time.perf_counter()
    bar = tqdm(list(zip(jobs, output_paths(jobs, out_dir, suffix))), unit="img", desc="deblurring")
    for job, dest in bar:
        bar.set_postfix_str(job.source.name, refresh=False)
        try:
            photo = read_photo(job.source)
            out = deblur_tiled(run, photo.rgb, tile, overlap)
            write_photo(dest, Photo(out, photo.alpha, photo.gray))
        except (ImageError, OSError, ValueError, RuntimeError) as exc:
            failed += 1
            msg = str(exc) if str(job.source) in str(exc) else f"{job.source}: {exc}"
            tqdm.write(f"deblurflow: error: {msg}", file=sys.stderr)
    done = len(jobs) - failed
    if done:
        per = (time.perf_counter() - t0) / len(jobs)
        tqdm.write(f"deblurred {done} image(s) into {out_dir} ({per:.2f} s per image)")
    return failed
