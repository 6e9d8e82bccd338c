"""DVC overhead: no-op `dvc status` / `dvc repro` on the sample vs on a GoPro-sized file tree.

Two temp copies of the repo (git init + commit, the project's dvc.yaml), each with its data
stages really run:

- sample: `dvc repro prepare` from scratch on the embedded sample (download -> synthesize ->
  prepare, the repo's params.yaml);
- gopro-size: a GoPro-sized raw tree written straight into data/raw (33 sequences, 22 train /
  11 test, ~35k tiny PNG frames, ~1,060 per sequence like GOPRO_Large_all) and recorded as the
  download stage's output with `dvc commit`, then `dvc repro prepare` (synthesize -> prepare,
  ~10k more files).

Then, in each, the no-op `dvc status prepare` and `dvc repro prepare` are timed (median of
--repeats, the copies interleaved), and the ratio gopro-size / sample printed: how DVC's
checking scales with the number of tracked files. Uses the `dvc` next to this Python (the
stage commands' `python` is this one too). Each copy is a `git clone` of this repo's HEAD (the
committed stages and params.yaml), so commit what you want measured. About 5 minutes on 2 cores.

    .venv/bin/python bench/pipeline.py
    .venv/bin/python bench/pipeline.py --frames-per-seq 200 --repeats 3    # a quicker look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import cv2
import numpy as np
import yaml

BIN = Path(sys.executable).parent  #: the venv's bin/, where dvc and the stages' python live
TRAIN_SEQS, TEST_SEQS = 22, 11  # GOPRO_Large_all
# Tiny frames: DVC's cost is per file, and synthesize/prepare stay quick.
FRAME_W, FRAME_H = 32, 18


def write_gopro_tree(raw: Path, frames_per_seq: int, seed: int = 0) -> int:
    """33 GoPro-named sequences of tiny PNG frames under raw/{train,test}; returns the count."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(
        rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), (FRAME_W + 64, FRAME_H), cv2.INTER_LINEAR
    )
    count = 0
    for s in range(TRAIN_SEQS + TEST_SEQS):
        split = "train" if s < TRAIN_SEQS else "test"
        seq = raw / split / f"GOPR{372 + s:04d}_07_00"
        seq.mkdir(parents=True)
        for i in range(frames_per_seq):
            x = (i + s) % 64  # a slow pan: consecutive frames differ, like video
            cv2.imwrite(str(seq / f"{i:06d}.png"), base[:, x : x + FRAME_W])
            count += 1
    return count


class CommandError(RuntimeError):
    """A command in a workspace copy exited with an error; the message ends with its output."""


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """(seconds, stdout + stderr) of a command that must succeed; no timeout (GoPro size)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        raise CommandError(f"{' '.join(map(str, cmd))} failed in {cwd}:\n{out[-4000:]}")
    return seconds, proc.stdout + proc.stderr


def bench_env() -> dict[str, str]:
    """This environment without MLFLOW_*/DVC_* settings, the venv first on PATH, a git identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", DVC_NO_ANALYTICS="1",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")  # fmt: skip
    return env


def clone(dest: Path, params: dict, env: dict[str, str]) -> Path:
    """A clone of this repo's HEAD in ``dest`` with ``params`` as params.yaml, committed."""
    run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(common.REPO), str(dest)], dest.parent, env
    )
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "--quiet", "--allow-empty", "-am", "bench params"], dest, env)
    return dest


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def main() -> None:
    try:
        measure()
    except CommandError as exc:
        raise SystemExit(f"error: {exc}") from None


def measure() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames-per-seq", type=int, default=1064, help="GoPro-size frames/sequence")
    ap.add_argument("--repeats", type=int, default=5, help="no-op timings per command")
    ap.add_argument("--keep", type=Path, help="build the copies here and keep them")
    args = ap.parse_args()
    if not (BIN / "dvc").exists():
        raise SystemExit(f"error: no dvc next to {sys.executable}; install the project first")

    env = bench_env()
    _, version = run([str(BIN / "dvc"), "--version"], common.REPO, env)
    print(f"device: CPU {common.cpu_name()} ({os.cpu_count()} cores), dvc {version.strip()}")
    base = yaml.safe_load((common.REPO / "params.yaml").read_text())
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        spaces: dict[str, Path] = {}
        built: dict[str, float] = {}

        # The sample, as a user's first `make repro` runs it (data stages only).
        ws = clone(root / "sample", base, env)
        built["sample"], _ = run(["dvc", "repro", "prepare"], ws, env)
        spaces["sample"] = ws

        # The GoPro-sized tree: M = 7 per the sequence names, prepare keeps the tiny size.
        params = dict(base)
        params["blur"] = {**base["blur"], "frames": "auto"}
        params["prepare"] = {**base["prepare"], "size": FRAME_W}
        ws = clone(root / "gopro-size", params, env)
        t0 = time.perf_counter()
        n = write_gopro_tree(ws / "data" / "raw", args.frames_per_seq)
        written = time.perf_counter() - t0
        commit, _ = run(["dvc", "commit", "--force", "download"], ws, env)
        repro, _ = run(["dvc", "repro", "prepare"], ws, env)
        built["gopro-size"] = commit + repro
        spaces["gopro-size"] = ws
        print(
            f"gopro-size tree: {n} frames written in {written:.1f} s; `dvc commit download` "
            f"{commit:.1f} s (first hashing + cache), `dvc repro prepare` {repro:.1f} s"
        )

        timings: dict[str, dict[str, list[float]]] = {
            k: {"status": [], "repro": []} for k in spaces
        }
        for _ in range(args.repeats):
            for name, ws in spaces.items():
                t, out = run(["dvc", "status", "prepare"], ws, env)
                if "up to date" not in out:
                    raise SystemExit(f"error: {name}: dvc status is not clean:\n{out[-2000:]}")
                timings[name]["status"].append(t)
                t, out = run(["dvc", "repro", "prepare"], ws, env)
                if "Running stage" in out:
                    raise SystemExit(f"error: {name}: the no-op dvc repro ran a stage:\n{out}")
                timings[name]["repro"].append(t)

        print()
        print(
            f"{'workspace':<11} {'files':>7} {'first build':>12} {'status':>8} {'no-op repro':>12}"
        )
        med: dict[str, dict[str, float]] = {}
        for name, ws in spaces.items():
            files = sum(count_files(ws / "data" / d) for d in ("raw", "pairs", "prepared"))
            med[name] = {k: statistics.median(v) for k, v in timings[name].items()}
            print(
                f"{name:<11} {files:>7} {built[name]:>11.1f}s {med[name]['status']:>7.2f}s "
                f"{med[name]['repro']:>11.2f}s"
            )
        s, g = med["sample"], med["gopro-size"]
        print(
            f"\nratio gopro-size/sample: status {g['status'] / s['status']:.2f}x, "
            f"no-op repro {g['repro'] / s['repro']:.2f}x (medians of {args.repeats}; "
            f"min/max status {min(timings['gopro-size']['status']):.2f}-"
            f"{max(timings['gopro-size']['status']):.2f}s gopro-size)"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
