"""What every DVC stage script shares: logging set-up and the one-line exits.

A stage that fails on bad input (params, data, a missing file, a full disk) prints one line,
``STAGE: error: what is wrong``, on stderr and exits with status 1; anything unexpected keeps
its traceback. Ctrl-C and SIGTERM print one line too, ``STAGE: stopped by ...; where it
stopped``, and exit with 130 / 143. At start, temp files a killed run of the stage left beside
(or inside) its outputs are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from . import atomic

log = logging.getLogger(__name__)

# What a stage reports in one line: bad params (ParamsError), images and models (ValueError
# subclasses), files and a full disk (OSError). Stages add their own (SourceError...).
EXPECTED: tuple[type[BaseException], ...] = (ValueError, OSError)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the stage is, so that ``finally`` blocks and handlers run."""


def setup_logging() -> None:
    """INFO logs from the package on stderr, ``LEVEL logger: message``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def fail(stage: str, exc: BaseException) -> int:
    """Print ``STAGE: error: exc`` on stderr; returns the exit status (1)."""
    print(f"{stage}: error: {exc}", file=sys.stderr)
    return 1


# A SIGTERM that arrives inside ``holding_sigterm()`` waits for the block to end (kept as a
# lost one is, below): a write cut half-way (MLflow's SQLAlchemy commit) can leave the store
# unable to record the stop itself.
_held = {"depth": 0}


def _terminate(signum: int, frame: object) -> None:
    if _held["depth"]:
        _lost_terminate.set()
        return
    raise Terminated()


@contextlib.contextmanager
def holding_sigterm() -> Iterator[None]:
    """Run the block to its end before a SIGTERM that arrives inside it stops the stage
    (``Terminated`` is raised as the block ends). Signals reach the main thread only, so
    elsewhere this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held["depth"] += 1
    try:
        yield
    finally:
        _held["depth"] -= 1
        if not _held["depth"]:
            check_terminated()


# A signal handler runs wherever the main thread is, also inside a finalizer (``__del__``, a
# weakref callback such as SQLAlchemy's state clean-up), where Python drops the exception and
# prints it as "Exception ignored". Such a lost SIGTERM is kept here instead and raised again
# at the next ``check_terminated()``: the training loop calls it every step.
_lost_terminate = threading.Event()


def _keep_lost_terminate(hook: Callable) -> Callable:
    def unraisable(info) -> None:
        if isinstance(info.exc_value, Terminated):
            _lost_terminate.set()
        else:
            hook(info)

    unraisable.keeps_lost_terminate = True
    return unraisable


def _quiet_after_interrupt(info) -> None:
    log.debug("after the stop, a finalizer raised %r (%s)", info.exc_value, info.object)


def check_terminated() -> None:
    """Raise the SIGTERM a finalizer swallowed, if one did."""
    if _lost_terminate.is_set():
        _lost_terminate.clear()
        raise Terminated()


def run(
    stage: str,
    body: Callable[[], int | None],
    errors: tuple[type[BaseException], ...] = (),
    clean: Sequence[str | Path] = (),
    on_interrupt: Callable[[], str] | None = None,
) -> int:
    """Set up logging, remove stale temp files of the ``clean`` outputs and run ``body``; an
    expected error (or one of ``errors``) becomes the one-line exit, Ctrl-C or SIGTERM a
    one-line stop (``on_interrupt()`` says where it stopped). Returns the exit status."""
    setup_logging()
    if os.environ.get("LOCAL_RANK", "0") == "0":  # DDP: rank 0 alone owns the outputs
        for p in atomic.clean_stale(*clean):
            log.info("removed %s, left by a killed run", p)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        if not getattr(sys.unraisablehook, "keeps_lost_terminate", False):
            sys.unraisablehook = _keep_lost_terminate(sys.unraisablehook)
    try:
        return body() or 0
    except EXPECTED + errors as exc:
        return fail(stage, exc)
    except KeyboardInterrupt as exc:
        # The interrupt can leave a library's objects half-updated (SQLAlchemy's session in
        # MLflow's store, mid-commit); their finalizers may then raise as they are collected.
        # The stage has stopped: their complaints are logged in one line, not as tracebacks.
        sys.unraisablehook = _quiet_after_interrupt
        term = isinstance(exc, Terminated)
        where = on_interrupt() if on_interrupt else ""
        how = "SIGTERM" if term else "Ctrl-C"
        print(f"{stage}: stopped by {how}{'; ' + where if where else ''}", file=sys.stderr)
        return 143 if term else 130
