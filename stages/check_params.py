"""DVC stage `check_params`: validate the whole params.yaml before any other stage runs.

DVC deletes a stage's outputs before it runs the stage's command, so a typo caught by the train
stage itself (``dvc exp run -S train.epochs=abc``) would already have cost the finished run's
files. This stage depends on every key of params.yaml (an unknown section such as ``trian:``
included) and every other stage depends on its output, so ``dvc repro`` stops here, with one
line naming the key, before DVC touches any other output. Its output never changes, so a valid
edit reruns only the stages whose own params changed.
"""

import argparse
import sys
from pathlib import Path

from deblurflow import atomic, stage
from deblurflow.params import load_params

CHECKED = "params.yaml is valid (see stages/check_params.py)\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, default=Path("data/params_checked.txt"))
    args = ap.parse_args()

    def body() -> None:
        load_params(args.params)
        atomic.write_text(args.out, CHECKED)

    return stage.run("check_params", body, clean=[args.out])


if __name__ == "__main__":
    sys.exit(main())
