"""DVC stage `download`: the sample, GOPRO_Large_all, a folder of frames or slow-motion video
clips -> data/raw/{train,test}/SEQ/."""

import argparse
import sys
from pathlib import Path

from deblurflow import stage
from deblurflow.params import load_params
from deblurflow.sources import SourceError, fetch_raw


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, default=Path("data/raw"))
    # Outside the DVC output on purpose: a partial download survives a killed stage and resumes.
    ap.add_argument("--downloads", type=Path, default=Path("data/downloads"))
    args = ap.parse_args()

    def body() -> None:
        fetch_raw(load_params(args.params), args.out, args.downloads)

    return stage.run("download", body, (SourceError,), clean=[args.out])


if __name__ == "__main__":
    sys.exit(main())
