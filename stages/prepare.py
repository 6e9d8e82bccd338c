"""DVC stage `prepare`: blurred/sharp pairs -> resized train/val/test uint8 arrays + manifest."""

import argparse
import logging
import sys
from pathlib import Path

from deblurflow import stage
from deblurflow.params import load_params
from deblurflow.prepare import prepare_pairs

log = logging.getLogger("deblurflow.prepare")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pairs", type=Path, default=Path("data/pairs"))
    ap.add_argument("--out", type=Path, default=Path("data/prepared"))
    args = ap.parse_args()

    def body() -> None:
        params = load_params(args.params)
        info = prepare_pairs(args.pairs, args.out, params.prepare, params.seed)
        counts = info["counts"]
        log.info(
            "%dx%d: %d train / %d val / %d test pairs (val sequences: %s) -> %s",
            info["width"], info["height"], counts["train"], counts["val"], counts["test"],
            ", ".join(info["sequences"]["val"]), args.out,
        )  # fmt: skip

    return stage.run("prepare", body, clean=[args.out])


if __name__ == "__main__":
    sys.exit(main())
