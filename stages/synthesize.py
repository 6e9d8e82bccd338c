"""DVC stage `synthesize`: raw 240 fps frames -> GoPro-style blurred/sharp pairs + manifest."""

import argparse
import logging
import sys
from pathlib import Path

from deblurflow import stage
from deblurflow.params import load_params
from deblurflow.synthesize import synthesize_tree

log = logging.getLogger("deblurflow.synthesize")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--raw", type=Path, default=Path("data/raw"))
    ap.add_argument("--out", type=Path, default=Path("data/pairs"))
    args = ap.parse_args()

    def body() -> None:
        manifest = synthesize_tree(args.raw, args.out, load_params(args.params).blur)
        counts = manifest["counts"]
        log.info(
            "%d train + %d test pairs (frames=%s, exposure_ms=%s, gamma=%g), %d sequences "
            "skipped -> %s",
            counts["train"], counts["test"], manifest["frames"], manifest["exposure_ms"],
            manifest["gamma"],
            counts["skipped_sequences"], args.out,
        )  # fmt: skip

    return stage.run("synthesize", body, clean=[args.out])


if __name__ == "__main__":
    sys.exit(main())
