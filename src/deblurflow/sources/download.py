"""Resumable, verified download of one file over http(s) or from a file:// URL.

The file is written as ``<name>.part`` beside its final name until it is complete and verified,
so a killed download resumes where it stopped (HTTP Range, guarded by If-Range so a file changed
on the server starts over) instead of starting a multi-gigabyte transfer again. It is renamed to
its final name only when its length and, when given, its sha256 match.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import zipfile
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlparse
from urllib.request import Request, urlopen

from tqdm import tqdm

from deblurflow.atomic import write_json
from deblurflow.sources.common import CHUNK, SourceError

log = logging.getLogger(__name__)


class _Retryable(Exception):
    """The connection dropped or the body came short: resuming may succeed."""


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
    response = _request(url, part, meta, timeout_s, have)
    if response is None:
        return
    with response:
        total = _receive(response, url, part, meta, have)
    size = part.stat().st_size
    if total is not None and size != total:
        # http.client returns a short body without an error when the connection drops.
        if size > total:
            part.unlink()
        raise _Retryable(f"got {size} of {total} bytes")


def _request(url: str, part: Path, meta: Path, timeout_s: float, have: int):
    """The open response for the bytes from ``have`` on; None when the .part is already whole.
    Errors are SourceError, or _Retryable when resuming may succeed."""
    headers = {"User-Agent": "deblurflow"}
    if have:
        headers["Range"] = f"bytes={have}-"
        # If-Range: if the file on the server changed since the .part began, it sends it whole.
        validator = _read_json(meta).get("validator")
        if validator:
            headers["If-Range"] = validator
    try:
        return urlopen(Request(url, headers=headers), timeout=timeout_s)
    except HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing left to send: the .part may already be whole (killed before the rename).
            if _content_range(exc.headers.get("Content-Range"))[1] == have:
                return None
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


def _receive(response, url: str, part: Path, meta: Path, have: int) -> int | None:
    """Append (a resumed 206) or write (anything else) the body to ``part``; returns the
    expected total size when the server said it."""
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
        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=part.name.removesuffix(".part"), disable=None)  # fmt: skip
        with open(part, mode) as f, bar:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
        raise _Retryable(str(exc) or type(exc).__name__) from exc
    return total


def _broken(path: Path, sha256: str | None) -> str | None:
    """Why a finished download cannot be reused (wrong sha256, unreadable zip), or None.

    Without a sha256 a zip is at least opened: a truncated one has no central directory."""
    if sha256 is not None:
        return None if sha256_of(path) == sha256 else "sha256 is not data.sha256"
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path):
                pass
        except (zipfile.BadZipFile, OSError) as exc:
            return f"not a readable zip archive, truncated or corrupt ({exc})"
    return None


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

    if final.is_file() and _reusable(final, expected):
        return final
    if part.exists() and _read_json(meta).get("url") != url:
        part.unlink()  # a partial download of another URL cannot be continued
    _fetch_with_retries(url, part, meta, timeout_s, retries, backoff_s)
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


def _reusable(final: Path, expected: str | None) -> bool:
    """Whether a finished download can be used as it is; a broken one is moved aside."""
    broken = _broken(final, expected)
    if broken is None:
        log.info("%s: already downloaded", final)
        return True
    # Moved aside, not deleted: it may be the only copy of a very large file.
    aside = final.with_name(final.name + ".corrupt")
    os.replace(final, aside)
    log.warning("%s: %s; moved to %s, downloading it again", final, broken, aside)
    return False


def _fetch_with_retries(
    url: str, part: Path, meta: Path, timeout_s: float, retries: int, backoff_s: float
) -> None:
    """``_fetch`` until the .part is whole, resuming a dropped connection ``retries`` times."""
    failures = 0
    while True:
        try:
            _fetch(url, part, meta, timeout_s)
            return
        except _Retryable as exc:
            failures += 1
            if failures > retries:
                kept = (
                    f"{part} is kept and the next run resumes it"
                    if part.exists() and part.stat().st_size
                    else "nothing was downloaded"
                )
                raise SourceError(
                    f"{url}: download failed after {retries} retries ({exc}); {kept}"
                ) from exc
            wait = backoff_s * 2 ** (failures - 1)
            log.warning("%s: %s; resuming in %.0f s (%d/%d)", url, exc, wait, failures, retries)
            time.sleep(wait)
