"""One trainer per checkpoints folder, and none left running once its parent is gone.

- ``checkpoint_lock``: ``train.lock`` in the checkpoints folder holds the trainer's PID; a second
  trainer is refused with one line naming it; a lock whose PID is dead (a killed trainer) is
  taken over.
- ``ParentWatch``: SIGTERM to ``dvc`` (a CI cancel, ``timeout dvc repro``) ends dvc without a
  word and would leave the trainer running on its own. A thread polls the parent PID and, when
  the trainer has been handed to another parent, sends itself SIGTERM: the stage then stops as
  on any SIGTERM (completed epochs saved, MLflow run KILLED, one line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK = "train.lock"
#: the parent process when this module was first imported: the stage script imports it before
#: torch, so a parent that dies during the seconds of torch's import is noticed too
PARENT_AT_START = os.getppid()


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
    from .checkpoint import CheckpointError  # torch: not at import (see PARENT_AT_START)

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
    """While inside, SIGTERM to this process once its parent process has gone away."""

    def __init__(self, interval_s: float = 1.0, parent: int = PARENT_AT_START) -> None:
        self.interval_s = interval_s
        self.parent = parent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="parent-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            if os.getppid() != self.parent:
                log.warning("the parent process (PID %d) is gone: stopping training", self.parent)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def __enter__(self) -> ParentWatch:
        if self.parent != 1:  # started by init itself (or orphaned before we looked): no watch
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
