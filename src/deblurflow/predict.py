"""``deblurflow predict``: deblur files and folders of real photos without ever losing a file.

Inputs are image files and folders (their images, ``recursive`` also those in sub-folders,
mirrored under the output folder). Each input ``STEM.EXT`` becomes ``STEM{suffix}.png``: the
name depends on the input alone, never on what else is in the folder or in the run.

Nothing is lost:

- an output is written to a temp name beside it and takes its name only when complete, so a
  crash, a kill or a full disk leaves no partial PNG (a full disk is one "no space left on
  device" line, as everywhere in the pipeline, and stops the run: the next files would fail too);
- an existing output is kept unless ``overwrite``: one line names it and the rest go on;
- two inputs of one run that would get the same output (``x.png`` and ``x.jpg`` side by side)
  are both reported and neither written, rather than one silently replacing the other;
- a file that cannot be read or deblurred is reported on one line and the rest go on.

Messages go through ``tqdm.write``, and the progress bar is drawn only on a terminal, so in a
log file every message is a line of its own.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from deblurflow import atomic
from deblurflow.images import ImageError
from deblurflow.photos import NOT_READ, encode_photo, read_photo, shrink_photo
from deblurflow.tiling import Runner, deblur_tiled

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
#: a folder's files that are deblurred, and photos OpenCV does not read: those are reported
#: (convert it), not skipped without a word
FOLDER_SUFFIXES = IMAGE_SUFFIXES | {f".{kind}" for kind in NOT_READ}


@dataclass(frozen=True)
class Job:
    """One input file and the folder (relative to the output folder) its result goes to."""

    source: Path
    subdir: Path = Path()


@dataclass
class Outcome:
    """What a predict run did: counts, and the outputs it left alone."""

    total: int
    written: int = 0
    failed: int = 0
    kept: list[Path] = field(default_factory=list)  #: existing outputs not replaced
    stopped: bool = False  #: the disk filled up; later inputs were not tried

    @property
    def not_written(self) -> int:
        return self.total - self.written


def collect_inputs(paths: list[Path], recursive: bool = False) -> list[Job]:
    """Files as given; folders expanded to their images (sorted; ``recursive``: sub-folders)."""
    jobs: list[Job] = []
    for p in paths:
        if p.is_dir():
            found = p.rglob("*") if recursive else p.iterdir()
            images = sorted(q for q in found if q.is_file() and q.suffix.lower() in FOLDER_SUFFIXES)
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


def output_path(job: Job, out_dir: Path, suffix: str = "_deblurred") -> Path:
    """``out_dir/SUBDIR/STEM{suffix}.png``: from the input's own name only."""
    return out_dir / job.subdir / f"{job.source.stem}{suffix}.png"


def clashes(jobs: list[Job], out_dir: Path, suffix: str) -> dict[Path, list[Path]]:
    """Outputs that two or more inputs of this run would share -> those inputs."""
    by_dest: dict[Path, list[Path]] = defaultdict(list)
    for job in jobs:
        by_dest[output_path(job, out_dir, suffix)].append(job.source)
    return {dest: sources for dest, sources in by_dest.items() if len(sources) > 1}


def _say(msg: str) -> None:
    tqdm.write(f"deblurflow: {msg}", file=sys.stderr)


def _refusal(job: Job, dest: Path, shared: dict[Path, list[Path]]) -> str:
    """Why ``job`` must not be written to ``dest`` (another input's name, its own input), or ''."""
    if dest in shared:
        others = ", ".join(str(s) for s in shared[dest] if s != job.source)
        return (
            f"{others} has the same output name {dest.name}; rename one or deblur them into "
            "different -o folders"
        )
    if dest.resolve() == job.source.resolve():
        return "the output would replace its input (give another -o or --suffix)"
    return ""


def predict_files(
    run: Runner,
    jobs: list[Job],
    out_dir: Path,
    suffix: str = "_deblurred",
    tile: int = 0,
    overlap: int = 0,
    overwrite: bool = False,
    max_side: int | None = None,
) -> Outcome:
    """Deblur every job into ``out_dir`` (see the module docstring for what is never lost),
    each first shrunk to a long side of ``max_side`` px when it is larger."""
    outcome = Outcome(len(jobs))
    shared = clashes(jobs, out_dir, suffix)
    t0 = time.perf_counter()
    # disable=None: a bar on a terminal only; in a log file it would be \r-joined lines.
    bar = tqdm(jobs, unit="img", desc="deblurring", disable=None, file=sys.stderr)
    with logging_redirect_tqdm():
        for job in bar:
            dest = output_path(job, out_dir, suffix)
            bar.set_postfix_str(job.source.name, refresh=False)
            refusal = _refusal(job, dest, shared)
            if refusal:
                _say(f"error: {job.source}: not written: {refusal}")
                outcome.failed += 1
                continue
            if dest.exists() and not overwrite:
                _say(f"{dest} exists, kept (--overwrite replaces it)")
                outcome.kept.append(dest)
                continue
            try:
                photo = shrink_photo(read_photo(job.source), max_side)
                out = deblur_tiled(run, photo.rgb, tile, overlap)
                data = encode_photo(replace(photo, rgb=out))
                atomic.write_bytes(dest, data, replace=overwrite)
                outcome.written += 1
            except FileExistsError:  # made by someone else while we deblurred
                _say(f"{dest} exists, kept (--overwrite replaces it)")
                outcome.kept.append(dest)
            except atomic.DiskFullError as exc:
                _say(f"error: {job.source}: {exc}")
                outcome.failed += 1
                outcome.stopped = True
                break
            except (ImageError, OSError, ValueError, RuntimeError) as exc:
                outcome.failed += 1
                msg = str(exc) if str(job.source) in str(exc) else f"{job.source}: {exc}"
                _say(f"error: {msg}")
    bar.close()
    if outcome.written:
        per = (time.perf_counter() - t0) / outcome.written
        tqdm.write(f"deblurred {outcome.written} image(s) into {out_dir} ({per:.2f} s per image)")
    return outcome


def summary(outcome: Outcome) -> str | None:
    """The closing line when not every input was written (None when all were)."""
    if not outcome.not_written:
        return None
    if outcome.failed == outcome.not_written:  # the common case, in the usual words
        return f"{outcome.failed} of {outcome.total} image(s) failed"
    parts = []
    if outcome.failed:
        parts.append(f"{outcome.failed} failed")
    if outcome.kept:
        parts.append(f"{len(outcome.kept)} existing output(s) kept (--overwrite replaces them)")
    skipped = outcome.not_written - outcome.failed - len(outcome.kept)
    if outcome.stopped and skipped:
        parts.append(f"{skipped} not tried after the disk filled up")
    return f"{outcome.not_written} of {outcome.total} image(s) not written: " + ", ".join(parts)
