"""``vtg predict``: a checkpoint's predictions on a split, in the official jsonl format, and their metrics.

    vtg predict --checkpoint runs/spikingvtg/best.ckpt --data data/tiny --split val --tc 4 --out preds.jsonl

When every query of the split has ``relevant_windows`` the official metrics are printed too. ``--tc``
sets the inference timesteps of a spiking model (its ``inference_tc``); other models have none.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vtg.errors import UserError


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


def pick_device(accelerator: str):
    """The torch device of ``--accelerator`` (``auto``: a GPU when there is one)."""
    import torch

    from vtg.engine.train_command import check_accelerator

    check_accelerator(accelerator)
    return torch.device("cuda" if accelerator != "cpu" and torch.cuda.is_available() else "cpu")


def set_timesteps(model, model_name: str, tc: int | None) -> None:
    """Apply ``--tc`` to a spiking model (its ``inference_tc``); any other model has no timesteps to set."""
    if tc is None:
        return
    if not hasattr(model, "inference_tc"):
        raise UserError(f"option --tc: model '{model_name}' is not spiking (it has no inference timesteps)")
    if tc < 1:
        raise UserError(f"option --tc: expected at least 1 timestep, got {tc}")
    model.inference_tc = tc


def predict(model, loader, device) -> list[dict[str, Any]]:
    """``model.predict`` over every batch of ``loader``, with a progress bar on stderr."""
    import torch
    from tqdm import tqdm

    from vtg.engine.batch import move_batch

    predictions: list[dict[str, Any]] = []
    with torch.no_grad():
        for batch in tqdm(loader, desc="vtg predict", unit="batch", file=sys.stderr):
            batch = move_batch(batch, device)
            predictions.extend(model.predict(batch, model(batch)))
    return predictions


def run(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from vtg.atomic import check_output
    from vtg.checkpoint import METADATA_KEY, check_dims, load_model
    from vtg.data.annotations import annotation_to_record
    from vtg.data.collate import collate
    from vtg.data.dataset import VTGDataset
    from vtg.engine.evaluation import score_predictions
    from vtg.postprocess.predictions import write_predictions

    for option in ("checkpoint", "data"):
        if getattr(args, option) is None:
            raise UserError(f"option --{option}: required")
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"option --batch-size: expected at least 1, got {args.batch_size}")
    out = check_output(
        args.out if args.out is not None else args.checkpoint.parent / f"{args.split}_preds.jsonl", "file"
    )
    device = pick_device(args.accelerator)  # before any work: a GPU asked for and missing
    model, checkpoint = load_model(args.checkpoint)
    metadata = checkpoint[METADATA_KEY]
    train = metadata["train_config"]
    # the lengths the model was trained on (positions beyond them may be unknown to it)
    dataset = VTGDataset(
        args.data,
        args.split,
        max_video_len=train.get("max_video_len"),
        max_query_len=train.get("max_query_len"),
        require_labels=False,
    )
    if len(dataset) == 0:
        raise UserError(f"{dataset.config.split_path(args.split)}: split '{args.split}' has no query")
    check_dims(args.checkpoint, metadata["dims"], args.data, dataset.dims)
    set_timesteps(model, metadata["model_name"], args.tc)
    model.to(device)
    loader = DataLoader(dataset, batch_size=args.batch_size or train.get("batch_size", 32), collate_fn=collate)
    predictions = predict(model, loader, device)

    write_predictions(out, predictions)
    metrics = None
    if all(annotation.windows for annotation in dataset.annotations):
        metrics = score_predictions(predictions, [annotation_to_record(a) for a in dataset.annotations])

    if args.json:
        summary = {
            "predictions": str(out),
            "count": len(predictions),
            "split": args.split,
            "model": metadata["model_name"],
            "tc": getattr(model, "inference_tc", None),  # the timesteps a spiking model ran
            "metrics": metrics,
        }
        print(json.dumps(summary))
        return 0
    print(f"wrote {len(predictions)} predictions to {out}")
    for name, value in (metrics or {}).items():
        print(f"  {name:24s} {value:8.2f}")
    return 0
