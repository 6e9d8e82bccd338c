"""DVC stage `select`: the best checkpoint by select.metric -> models/best.pt.

(Not named select.py: a script folder on sys.path would shadow the stdlib module `select`.)
"""

import argparse
import logging
import sys
from pathlib import Path

from deblurflow import atomic, run_info, stage
from deblurflow.models import load_generator, save_generator
from deblurflow.params import ModelParams, load_params
from deblurflow.selection import select_checkpoint
from deblurflow.training.checkpoint import CheckpointError

log = logging.getLogger("deblurflow.select")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--checkpoints", type=Path, default=Path("models/checkpoints"))
    ap.add_argument("--out", type=Path, default=Path("models/best.pt"))
    ap.add_argument("--metrics", type=Path, default=Path("metrics/select.json"))
    ap.add_argument("--run-file", type=Path, default=Path("models/mlflow_run.json"))
    args = ap.parse_args()
    return stage.run(
        "select", lambda: select(args), (CheckpointError,), clean=[args.out, args.metrics]
    )


def select(args: argparse.Namespace) -> None:
    with run_info.ends_run(args.run_file, finish=False) as tracker:
        select_best(args, tracker)


def select_best(args: argparse.Namespace, tracker) -> None:
    metric = load_params(args.params).select.metric
    row, snapshot = select_checkpoint(args.checkpoints, metric)
    generator, info = load_generator(snapshot)
    model = ModelParams(**info["model"])  # the architecture the snapshot was trained with
    summary = {
        "epoch": int(row["epoch"]),
        "metric": metric,
        "value": float(row[metric]),
        **{k: float(row[k]) for k in ("val_l1", "val_psnr", "val_ssim")},
    }
    save_generator(args.out, generator, model, epoch=summary["epoch"], select=dict(summary))
    atomic.write_json(args.metrics, summary)
    log.info(
        "best epoch %d by %s = %.4f -> %s", summary["epoch"], metric, summary["value"], args.out
    )

    tracker.log_metrics({"best_epoch": summary["epoch"], f"best_{metric}": summary["value"]})
    tracker.set_tags({"select.metric": metric})


if __name__ == "__main__":
    sys.exit(main())
