"""What every DVC stage script shares: logging set-up and the one-line exits.

A stage that fails on bad input (params, data, a missing file, a full disk) prints one line,
``STAGE: error: what is wrong``, on stderr and exits with status 1; anything unexpected keeps
its traceback. Ctrl-C and SIGTERM print one line too, ``STAGE: stopped by ...; where it
stopped``, and exit with 130 / 143. At start, temp files a killed run of the stage left beside
(or inside) its outputs are removed.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
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


def _terminate(signum: int, frame: object) -> None:
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
    try:
        return body() or 0
    except EXPECTED + errors as exc:
        return fail(stage, exc)
    except KeyboardInterrupt as exc:
        term = isinstance(exc, Terminated)
        where = on_interrupt() if on_interrupt else ""
        how = "SIGTERM" if term else "Ctrl-C"
        print(f"{stage}: stopped by {how}{'; ' + where if where else ''}", file=sys.stderr)
        return 143 if term else 130
