"""Atomic, durable writes: a crash, a kill or a full disk leaves the previous good output or none.

A file is written under a temp name beside its target (``.NAME.XXXX.tmp``), fsynced, renamed
over the target and the folder fsynced, so after a power cut the target holds either the old or
the new content, never half of one. A SIGKILL can still leave a temp file behind: stages call
``clean_stale`` on their outputs at start, and ``.dvcignore`` keeps such names out of DVC
outputs. A full disk is one ``DiskFullError`` naming the path and the space needed.

Temp files and folders are made with ``open()``'s and ``mkdir()``'s permissions under the user's
umask (0644 / 0755 for the usual 022), not ``mkstemp``'s private 0600 / 0700, so a shared
folder or a DVC remote serves the whole team.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Errors that mean "the disk (or the user's quota) is full".
FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """No space left where an output is written; says where and about how much was needed."""

    def __init__(self, path: str | Path, needed: int | None = None) -> None:
        free = free_bytes(Path(path))
        need = f", needed ~{_mb(needed)} MB" if needed else ""
        have = f" ({_mb(free)} MB free)" if free is not None else ""
        super().__init__(errno.ENOSPC, f"no space left on device at {path}{need}{have}")

    def __str__(self) -> str:
        return str(self.strerror)


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f}" if n >= 2**20 else f"{n / 2**20:.2f}"


def umask() -> int:
    """The process's umask (read from /proc where possible: setting it, the only portable way
    to read it, races with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_open_would(path: str | Path, folder: bool = False) -> None:
    """Give a mkstemp/mkdtemp result the mode open()/mkdir() would have created it with."""
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())


def free_bytes(path: Path) -> int | None:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    for p in (path, *path.parents):
        if p.exists():
            return shutil.disk_usage(p).free
    return None


def ensure_space(path: str | Path, needed: int) -> None:
    """Raise DiskFullError unless ``needed`` bytes are free where ``path`` will be written."""
    free = free_bytes(Path(path))
    if free is not None and free < needed:
        raise DiskFullError(path, needed)


def preallocate(path: str | Path, size: int) -> None:
    """Reserve ``size`` bytes for an existing file, so that filling it (e.g. through a memory
    map, where a full disk is a SIGBUS instead of an error) cannot run out of space."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in FULL:
            raise DiskFullError(path, size) from exc
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no fallocate: best effort
            raise
    finally:
        os.close(fd)


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a folder's content to the disk (a folder: its entries, i.e. renames)."""
    folder = Path(path).is_dir()
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems (e.g. some network mounts) cannot fsync a folder; the file is.
        if not (folder and exc.errno in (errno.EINVAL, errno.ENOTSUP)):
            raise
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(folder)


@contextlib.contextmanager
def _full_disk_is_an_error(path: Path, needed: int | None = None) -> Iterator[None]:
    try:
        yield
    except DiskFullError:
        raise
    except OSError as exc:
        if exc.errno in FULL:
            raise DiskFullError(path, needed) from exc
        raise


@contextlib.contextmanager
def atomic_path(
    path: str | Path, needed: int | None = None, replace: bool = True
) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is fsynced and renamed over ``path``.

    ``needed`` (bytes, when known) goes into the message of a full disk. ``replace=False``
    never replaces an existing ``path``: the finished temp file is hard-linked to the name,
    which fails when it exists (FileExistsError), even if another process made it meanwhile.
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        with _full_disk_is_an_error(path, needed):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            tmp_path = Path(tmp)
            _as_open_would(tmp_path)
            yield tmp_path
            fsync_path(tmp_path)
            if replace:
                os.replace(tmp_path, path)
            else:
                _link_new(tmp_path, path)
            fsync_path(path.parent)
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


# A file system without hard links (some FUSE and network mounts, FAT) answers one of these.
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EXDEV)


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp``'s content the name ``path`` unless ``path`` exists (FileExistsError)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if path.exists():  # no atomic no-replace here: check, then rename
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
        os.replace(tmp, path)


def write_bytes(path: str | Path, data: bytes | memoryview, replace: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (``replace=False``: FileExistsError if it exists)."""
    with atomic_path(path, needed=len(data), replace=replace) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temp folder beside ``path``; on success its files are fsynced and it
    replaces ``path`` whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        _as_open_would(tmp, folder=True)
        with _full_disk_is_an_error(path):
            yield tmp
            _fsync_tree(tmp)
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
            fsync_path(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stale(path: str | Path) -> list[Path]:
    """Temp files and folders a killed writer of ``path`` left behind: ``.NAME.*.tmp`` and
    ``.NAME.old`` beside it and, when ``path`` is a folder, ``.*.tmp`` inside it."""
    path = Path(path)
    found = list(path.parent.glob(f".{path.name}.*.tmp")) + list(
        path.parent.glob(f".{path.name}.old")
    )
    if path.is_dir():
        found += path.glob(".*.tmp")
    return sorted(found)


def clean_stale(*paths: str | Path) -> list[Path]:
    """Remove what ``stale`` finds for each of ``paths`` (call at a stage's start, before any
    writer of these outputs runs); returns what was removed."""
    removed = [p for path in paths for p in stale(path)]
    for p in removed:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return removed
