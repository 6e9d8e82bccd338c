"""One trainer per checkpoints folder, and none left running once its parent is gone.

- ``checkpoint_lock``: ``train.lock`` in the checkpoints folder holds the trainer's PID; a second
  trainer is refused with one line naming it; a lock whose PID is dead (a killed trainer) is
  taken over.
- ``ParentWatch``: SIGTERM to ``dvc`` (a CI cancel, ``timeout dvc repro``) ends dvc without a
  word and would leave the trainer running on its own. DVC starts the stage through ``$SHELL -c``:
  bash and zsh replace themselves with the command, but dash (``/bin/sh`` on Debian, DVC's
  shell when ``SHELL`` is unset) stays between dvc and the trainer and outlives dvc. So the watch
  notes the trainer's ancestry up to the first process that is not a shell and, once any link of
  it breaks (a process gone or handed to another parent), sends itself SIGTERM: the stage then
  stops as on any SIGTERM (completed epochs saved, MLflow run KILLED, one line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

LOCK = "train.lock"
#: shells that may stand between dvc and the stage's command (``$SHELL -c CMD``)
SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish"})


def ancestry(pid: int | None = None) -> tuple[tuple[int, int], ...]:
    """``(child, parent)`` links from ``pid`` (this process) up to its first ancestor that is
    not a shell: ``((pid, sh), (sh, dvc))`` under ``dash -c``, ``((pid, dvc),)`` under bash."""
    links = []
    proc = psutil.Process(pid)
    while True:
        parent = proc.parent()
        if parent is None or parent.pid <= 1:  # started (or already orphaned) under init
            break
        links.append((proc.pid, parent.pid))
        try:
            if parent.name() not in SHELLS:
                break
        except psutil.Error:
            break
        proc = parent
    return tuple(links)


def _broken(links: tuple[tuple[int, int], ...]) -> tuple[int, int] | None:
    """The first link whose child is gone or now has another parent."""
    for child, parent in links:
        try:
            if psutil.Process(child).ppid() != parent:
                return child, parent
        except psutil.NoSuchProcess:
            return child, parent
    return None


#: the ancestry when this module was first imported: the stage script imports it before torch,
#: so a parent that dies during the seconds of torch's import is noticed too
ANCESTRY_AT_START = ancestry()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0: nothing is sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _holder(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def checkpoint_lock(ckpt_dir: Path) -> Iterator[Path]:
    """Hold ``ckpt_dir/train.lock`` while inside; CheckpointError when a live trainer holds it."""
    from .checkpoint import CheckpointError  # torch: not at import (see ANCESTRY_AT_START)

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / LOCK
    for _ in range(3):  # a stale lock is removed, then taken as if it were never there
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pid = _holder(path)
            if pid is not None and pid != os.getpid() and pid_alive(pid):
                raise CheckpointError(
                    f"{ckpt_dir} is in use by another training (PID {pid}); stop it or wait "
                    f"for it to end (a lock of a dead process is taken over: {path})"
                ) from None
            log.info("taking over %s of a trainer that is gone (PID %s)", path, pid)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        break
    else:
        raise CheckpointError(f"{path}: cannot take the training lock")
    try:
        yield path
    finally:
        if _holder(path) == os.getpid():
            with contextlib.suppress(OSError):
                path.unlink()


class ParentWatch:
    """While inside, SIGTERM to this process once its parent (or, through shells, the process
    that started it) has gone away."""

    def __init__(
        self, interval_s: float = 1.0, links: tuple[tuple[int, int], ...] = ANCESTRY_AT_START
    ) -> None:
        self.interval_s = interval_s
        self.links = links
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="parent-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            if broken := _broken(self.links):
                log.warning("the parent process (PID %d) is gone: stopping training", broken[1])
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def __enter__(self) -> ParentWatch:
        if self.links:  # none when started by init itself (or orphaned before we looked)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
