"""``vtg predict``: a checkpoint's predictions on a split, in the official jsonl format, and their metrics.

    vtg predict --checkpoint runs/spikingvtg/best.ckpt --data data/tiny --split val --tc 4 --out preds.jsonl

When every query of the split has ``relevant_windows`` the official metrics are printed too. ``--tc``
sets the inference timesteps of a spiking model (its ``inference_tc``); other models have none. The
work is :func:`vtg.evaluation.evaluate_checkpoint`, the one evaluation path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vtg.errors import UserError
from vtg.json_file import to_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # required, but not by argparse: a config's top-level keys may give them
    parser.add_argument("--checkpoint", type=Path, help="checkpoint written by vtg train; required")
    parser.add_argument("--data", type=Path, help="dataset folder (with dataset.yaml); required")
    parser.add_argument("--split", default="val", help="split of dataset.yaml to predict (default val)")
    parser.add_argument("--tc", type=int, help="inference timesteps of a spiking model")
    parser.add_argument("--out", type=Path, help="predictions file (default: CHECKPOINT_DIR/SPLIT_preds.jsonl)")
    parser.add_argument("--batch-size", type=int, help="queries per batch (default: the training batch size)")
    parser.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object (file, count, metrics)")


def run(args: argparse.Namespace) -> int:
    from vtg.atomic import check_output
    from vtg.data.dataset_config import load_dataset_config
    from vtg.engine.run_options import pick_device
    from vtg.evaluation import evaluate_checkpoint
    from vtg.postprocess.predictions import write_predictions

    for option in ("checkpoint", "data"):
        if getattr(args, option) is None:
            raise UserError(f"option --{option}: required")
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"option --batch-size: expected at least 1, got {args.batch_size}")
    dataset = load_dataset_config(args.data)
    inputs = {"--checkpoint": args.checkpoint, f"--split {args.split}": dataset.split_path(args.split)}
    inputs["--data"] = dataset.path
    out = check_output(
        args.out if args.out is not None else args.checkpoint.parent / f"{args.split}_preds.jsonl",
        "file",
        inputs=inputs,
    )
    device = pick_device(args.accelerator)  # before any work: a GPU asked for and missing
    result = evaluate_checkpoint(
        args.checkpoint, args.data, args.split, args.tc, args.batch_size, device, require_labels=False
    )
    predictions = result.predictions
    write_predictions(out, predictions)  # first: scoring reads the ground truth, which may still refuse
    metrics = result.metrics

    if args.json:
        summary = {
            "predictions": str(out),
            "count": len(predictions),
            "split": args.split,
            "model": result.opened.model_name,
            "tc": result.tc,  # the timesteps a spiking model ran
            "metrics": metrics,
        }
        print(to_json(summary))
        return 0
    print(f"wrote {len(predictions)} predictions to {out}")
    for name, value in (metrics or {}).items():
        print(f"  {name:24s} {value:8.2f}")
    return 0
