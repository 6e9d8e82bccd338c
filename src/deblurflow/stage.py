"""What every DVC stage script shares: logging set-up and the one-line error exit.

A stage that fails on bad input (params, data, a missing file) prints one line,
``STAGE: error: what is wrong``, on stderr and exits with status 1; anything unexpected keeps
its traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

# What a stage reports in one line: bad params (ParamsError), images and models (ValueError
# subclasses), files (OSError). Stages add their own (SourceError, CheckpointError...).
EXPECTED: tuple[type[BaseException], ...] = (ValueError, OSError)


def setup_logging() -> None:
    """INFO logs from the package on stderr, ``LEVEL logger: message``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def fail(stage: str, exc: BaseException) -> int:
    """Print ``STAGE: error: exc`` on stderr; returns the exit status (1)."""
    print(f"{stage}: error: {exc}", file=sys.stderr)
    return 1


def run(
    stage: str,
    body: Callable[[], int | None],
    errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Set up logging and run ``body``; an expected error (or one of ``errors``) becomes the
    one-line exit. Returns the exit status for ``sys.exit``."""
    setup_logging()
    try:
        return body() or 0
    except EXPECTED + errors as exc:
        return fail(stage, exc)
