"""Where the workspace is: its root, and the paths params.yaml names relative to it.

The root is ``$DVC_ROOT`` when DVC sets it (inside ``dvc exp run --temp`` / ``--queue`` it
points at the main workspace, whose temp copy is deleted afterwards), else the nearest folder
at or above the current one that holds ``.dvc`` or ``.git``, else the current folder. No git
command runs here: reading git is ``tracking.state``'s job.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root(cwd: str | Path | None = None) -> Path:
    """$DVC_ROOT, else the nearest folder with .dvc or .git at or above ``cwd``, else ``cwd``."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path(cwd or ".").resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").exists() or (folder / ".git").exists():
            return folder
    return here


def from_root(path: str | Path, root: Path | None = None) -> Path:
    """``path`` as it is when absolute, else under the repo root (``root`` when given)."""
    path = Path(path)
    return path if path.is_absolute() else (root or repo_root()) / path
