"""GOPRO_Large_all: resumable, verified download and safe extraction of the 240 fps frames.

The archive (``GOPRO_Large_all/{train,test}/GOPR0372_07_00/000001.png`` ..., 33 sequences,
1280x720) is downloaded into a folder outside the DVC output, as ``<name>.part`` until it is
complete and verified, so a killed stage resumes where it stopped (HTTP Range) instead of
starting a multi-gigabyte download again.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import stat
import struct
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlparse
from urllib.request import Request, urlopen

from tqdm import tqdm

from deblurflow.atomic import write_json
from deblurflow.images import ImageError, read_rgb, write_png
from deblurflow.params import DataParams
from deblurflow.sources import SourceError, natural_key

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
CHUNK = 1 << 20  #: bytes per read while downloading, hashing and copying
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Retryable(Exception):
    """The connection dropped or the body came short: resuming may succeed."""


# --- download --------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, with a progress bar (the GoPro archive is tens of gigabytes)."""
    digest = hashlib.sha256()
    bar = tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"sha256 {path.name}",
        disable=None,
    )
    with open(path, "rb") as f, bar:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _file_name(url: str) -> str:
    name = PurePosixPath(unquote(urlparse(url).path)).name
    return name if name not in ("", ".", "..") else "archive.zip"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """'bytes 100-199/1000' -> (100, 1000); 'bytes */1000' -> (None, 1000); unknowns are None."""
    match = re.fullmatch(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", (value or "").strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _fetch(url: str, part: Path, meta: Path, timeout_s: float) -> None:
    """One request: continue ``part`` from its current size (or start it) up to the end."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "deblurflow"}
    if have:
        headers["Range"] = f"bytes={have}-"
        # If-Range: if the file on the server changed since the .part began, it sends it whole.
        validator = _read_json(meta).get("validator")
        if validator:
            headers["If-Range"] = validator
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout_s)
    except HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing left to send: the .part may already be whole (killed before the rename).
            if _content_range(exc.headers.get("Content-Range"))[1] == have:
                return
            part.unlink()
            raise _Retryable("the server cannot resume this partial download") from exc
        raise SourceError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except URLError as exc:
        if isinstance(exc.reason, (ConnectionError, TimeoutError)):
            raise _Retryable(str(exc.reason)) from exc
        raise SourceError(f"{url}: {exc.reason}") from exc
    except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
        raise _Retryable(str(exc) or type(exc).__name__) from exc
    except ValueError as exc:  # a malformed URL
        raise SourceError(f"{url}: {exc}") from exc

    with response:
        start, total = _content_range(response.headers.get("Content-Range"))
        if have and response.status == 206 and start == have:
            mode = "ab"
            length = response.headers.get("Content-Length")
            if total is None and length and length.isdigit():  # 'bytes 100-199/*'
                total = have + int(length)
        else:
            if have:
                log.info("%s: the server did not resume; downloading from the start", url)
            mode, have = "wb", 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            etag = response.headers.get("ETag")
            strong = etag if etag and not etag.startswith("W/") else None
            validator = strong or response.headers.get("Last-Modified")
            write_json(meta, {"url": url, "validator": validator})
        try:
            bar = tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=None,
            )
            with open(part, mode) as f, bar:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
        except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            raise _Retryable(str(exc) or type(exc).__name__) from exc
    size = part.stat().st_size
    if total is not None and size != total:
        # http.client returns a short body without an error when the connection drops.
        if size > total:
            part.unlink()
        raise _Retryable(f"got {size} of {total} bytes")


def download(
    url: str,
    downloads_dir: Path,
    sha256: str | None = None,
    *,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
) -> Path:
    """Download url into downloads_dir/<basename>, resuming a previous ``.part``; return it.

    The file gets its final name only once its length matches Content-Length and, when given,
    its sha256 matches; a bad download is deleted. A dropped connection is resumed up to
    ``retries`` times with exponential backoff from ``backoff_s`` seconds.
    """
    if urlparse(url).scheme not in ("http", "https", "file"):
        raise SourceError(f"{url}: only http, https and file URLs can be downloaded")
    downloads_dir = Path(downloads_dir)
    downloads_dir.mkdir(parents=True, exist_ok=True)
    final = downloads_dir / _file_name(url)
    part = final.with_name(final.name + ".part")
    meta = final.with_name(final.name + ".part.json")
    expected = sha256.lower() if sha256 else None

    if final.is_file():
        if expected is None or sha256_of(final) == expected:
            log.info("%s: already downloaded", final)
            return final
        log.warning("%s: sha256 is not data.sha256; downloading it again", final)
        final.unlink()
    if part.exists() and _read_json(meta).get("url") != url:
        part.unlink()  # a partial download of another URL cannot be continued

    failures = 0
    while True:
        try:
            _fetch(url, part, meta, timeout_s)
            break
        except _Retryable as exc:
            failures += 1
            if failures > retries:
                raise SourceError(
                    f"{url}: download failed after {retries} retries ({exc}); "
                    f"{part} is kept and the next run resumes it"
                ) from exc
            wait = backoff_s * 2 ** (failures - 1)
            log.warning("%s: %s; resuming in %.0f s (%d/%d)", url, exc, wait, failures, retries)
            time.sleep(wait)

    if expected is not None:
        actual = sha256_of(part)
        if actual != expected:
            part.unlink()
            meta.unlink(missing_ok=True)
            raise SourceError(
                f"{url}: sha256 mismatch: expected {expected}, got {actual}; "
                "the download was deleted"
            )
    os.replace(part, final)
    meta.unlink(missing_ok=True)
    log.info("%s: downloaded %s", url, final)
    return final


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
            f"{archive}: cannot read {info.filename} ({exc}); the archive is corrupt or truncated"
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
