"""DVC stage `prepare`: blurred/sharp pairs -> resized train/val/test uint8 arrays + manifest."""

import argparse
import logging
import sys
from pathlib import Path

from deblurflow.params import ParamsError, load_params
from deblurflow.prepare import prepare_pairs

log = logging.getLogger("deblurflow.prepare")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pairs", type=Path, default=Path("data/pairs"))
    ap.add_argument("--out", type=Path, default=Path("data/prepared"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = load_params(args.params)
        info = prepare_pairs(args.pairs, args.out, params.prepare, params.seed)
    except (ParamsError, ValueError, OSError) as exc:  # ImageError is a ValueError
        print(f"prepare: error: {exc}", file=sys.stderr)
        return 1
    counts = info["counts"]
    log.info(
        "%dx%d: %d train / %d val / %d test pairs (val sequences: %s) -> %s",
        info["width"],
        info["height"],
        counts["train"],
        counts["val"],
        counts["test"],
        ", ".join(info["sequences"]["val"]),
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
