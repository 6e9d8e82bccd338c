"""DVC stage `download`: the sample, GOPRO_Large_all or a folder -> data/raw/{train,test}/SEQ/."""

import argparse
import logging
import sys
from pathlib import Path

from deblurflow.images import ImageError
from deblurflow.params import ParamsError, load_params
from deblurflow.sources import SourceError, fetch_raw


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, default=Path("data/raw"))
    # Outside the DVC output on purpose: a partial download survives a killed stage and resumes.
    ap.add_argument("--downloads", type=Path, default=Path("data/downloads"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = load_params(args.params)
        fetch_raw(params, args.out, args.downloads)
    except (ParamsError, ImageError, SourceError) as exc:
        print(f"download: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
