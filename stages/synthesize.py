"""DVC stage `synthesize`: raw 240 fps frames -> GoPro-style blurred/sharp pairs + manifest."""

import argparse
import logging
import sys
from pathlib import Path

from deblurflow.params import ParamsError, load_params
from deblurflow.synthesize import synthesize_tree

log = logging.getLogger("deblurflow.synthesize")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--raw", type=Path, default=Path("data/raw"))
    ap.add_argument("--out", type=Path, default=Path("data/pairs"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = load_params(args.params)
        manifest = synthesize_tree(args.raw, args.out, params.blur)
    except (ParamsError, ValueError, OSError) as exc:  # ImageError is a ValueError
        print(f"synthesize: error: {exc}", file=sys.stderr)
        return 1
    counts = manifest["counts"]
    log.info(
        "%d train + %d test pairs (frames=%s, gamma=%g), %d sequences skipped -> %s",
        counts["train"],
        counts["test"],
        manifest["frames"],
        manifest["gamma"],
        counts["skipped_sequences"],
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
