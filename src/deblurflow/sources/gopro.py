"""GOPRO_Large_all: the archive (downloaded or the user's own) and safe extraction of its frames.

The archive (``GOPRO_Large_all/{train,test}/GOPR0372_07_00/000001.png`` ..., 33 sequences,
1280x720) is downloaded by :mod:`deblurflow.sources.download` into a folder outside the DVC
output, then its frames are extracted into the raw layout, checked entry by entry first.
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from deblurflow.images import ImageError, read_rgb, write_png
from deblurflow.params import DataParams
from deblurflow.sources.common import CHUNK, SPLITS, SourceError, natural_key
from deblurflow.sources.download import download, sha256_of

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def obtain_archive(data: DataParams, downloads_dir: Path) -> Path:
    """The local archive (data.archive) after a sha256 check, or a download of data.url."""
    if data.archive:
        archive = Path(data.archive).expanduser()
        if not archive.is_file():
            raise SourceError(f"{archive}: data.archive does not exist or is not a file")
        if data.sha256:
            actual = sha256_of(archive)
            if actual != data.sha256.lower():
                # The user's own file: report it, never delete it.
                raise SourceError(
                    f"{archive}: sha256 mismatch: expected {data.sha256.lower()}, got {actual}"
                )
        return archive
    if not data.url:
        raise SourceError("data.source 'gopro' needs data.url or data.archive")
    return download(data.url, downloads_dir, data.sha256)


# --- extraction ------------------------------------------------------------------------------


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    """Why extracting this entry could write outside the target folder, or None."""
    name = info.filename.replace("\\", "/")  # zips made on Windows may use either separator
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if ".." in name.split("/"):
        return "'..' in its path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return None


def _frame_key(name: str) -> tuple[str, str, str] | None:
    """'GOPRO_Large_all/train/SEQ/000001.png' -> ('train', 'SEQ', '000001.png'); else None."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if parts and parts[0] not in SPLITS:
        parts = parts[1:]  # the top folder, GOPRO_Large_all/
    if len(parts) != 3 or parts[0] not in SPLITS:
        return None
    split, seq, file = parts
    if file.startswith(".") or not file.lower().endswith(".png"):  # e.g. macOS ._000001.png
        return None
    return split, seq, file


def _frame_names(files: list[str]) -> list[str]:
    """Keep GoPro's 6-digit frame numbers; renumber anything else from 000000 in order."""
    stems = [PurePosixPath(f).stem for f in files]
    if all(re.fullmatch(r"\d{6}", s) for s in stems) and len(set(stems)) == len(stems):
        return [f"{s}.png" for s in stems]
    return [f"{i:06d}.png" for i in range(len(files))]


def _copy_frame(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, dst: Path, archive: Path
) -> tuple[int, int]:
    """Stream one PNG entry to dst without re-encoding it; return its (width, height)."""
    try:
        with zf.open(info) as src, open(dst, "wb") as out:
            head = src.read(64)
            if len(head) < 26 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
                raise SourceError(f"{archive}: {info.filename} is not a PNG image")
            width, height = struct.unpack(">II", head[16:24])
            depth, colour = head[24], head[25]
            out.write(head)
            shutil.copyfileobj(src, out, CHUNK)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise SourceError(
            f"{archive}: cannot read {info.filename} ({exc}); the archive is corrupt or truncated: "
            "delete it and run again (a downloaded archive is then fetched again)"
        ) from exc
    except NotImplementedError as exc:  # e.g. Deflate64, written by some Windows zip tools
        raise SourceError(
            f"{archive}: {exc}; extract it with unzip or 7z and use data.source: folder"
        ) from exc
    except RuntimeError as exc:  # an encrypted entry
        raise SourceError(f"{archive}: cannot read {info.filename} ({exc})") from exc
    if (depth, colour) != (8, 2):
        # Not 8-bit RGB (gray, palette, alpha or 16-bit): convert to the layout's RGB PNG.
        try:
            write_png(dst, read_rgb(dst))
        except ImageError as exc:
            raise SourceError(f"{archive}: {info.filename} cannot be decoded") from exc
    return width, height


def extract_frames(archive: Path, out_dir: Path) -> dict[str, dict[str, int]]:
    """Extract {train,test}/SEQ/*.png of archive into out_dir/{train,test}/SEQ/NNNNNN.png.

    Every entry is checked before anything is written: an absolute path, '..' or a symbolic
    link anywhere in the archive refuses the whole archive. Returns {split: {sequence: frames}}.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:  # also a truncated download: no directory
        raise SourceError(f"{archive}: not a readable zip archive ({exc})") from exc
    with zf:
        infos = zf.infolist()
        for info in infos:
            reason = _unsafe(info)
            if reason:
                raise SourceError(
                    f"{archive}: refusing entry {info.filename!r} ({reason}); nothing extracted"
                )
        sequences: dict[tuple[str, str], list[zipfile.ZipInfo]] = {}
        for info in infos:
            key = None if info.is_dir() else _frame_key(info.filename)
            if key:
                sequences.setdefault(key[:2], []).append(info)
        for split in SPLITS:
            if not any(s == split for s, _ in sequences):
                pairs = any("/blur/" in i.filename for i in infos)
                hint = (
                    " (this looks like GOPRO_Large, the blurred pairs; the frames are in"
                    " GOPRO_Large_all)"
                    if pairs
                    else ""
                )
                raise SourceError(f"{archive}: no frames under {split}/SEQ/*.png{hint}")

        counts: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
        total = sum(len(members) for members in sequences.values())
        with tqdm(total=total, unit="frame", desc=f"extract {archive.name}", disable=None) as bar:
            for (split, seq), members in sorted(sequences.items()):
                members.sort(key=lambda i: natural_key(PurePosixPath(i.filename).name))
                names = _frame_names([PurePosixPath(i.filename).name for i in members])
                (out_dir / split / seq).mkdir(parents=True)
                first: tuple[int, int] | None = None
                for info, name in zip(members, names):
                    size = _copy_frame(zf, info, out_dir / split / seq / name, archive)
                    if first is None:
                        first = size
                    elif size != first:
                        raise SourceError(
                            f"{archive}: {info.filename} is {size[0]}x{size[1]}, the first frame"
                            f" of {seq} is {first[0]}x{first[1]}"
                        )
                    bar.update()
                counts[split][seq] = len(members)
    return counts
