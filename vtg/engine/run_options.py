"""The options of a training run, shared by ``vtg train`` and ``vtg distill``, and their checks.

:func:`add_run_arguments` adds them to a command's parser; :func:`run_from_args` turns them and the config's
``train:`` section into a :class:`vtg.engine.trainer.TrainRun`, checking each at start (a bad value is one
line naming the option); :func:`print_summary` prints a finished run. :func:`check_accelerator` and
:func:`pick_device` serve every command with ``--accelerator``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vtg.errors import UserError
from vtg.json_file import to_json


def number_of_batches(text: str) -> int | float:
    """Lightning's limit: ``"10"`` is ten batches, ``"0.25"`` a quarter of them."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of batches or a fraction, got {text!r}") from None


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a training run shared by ``vtg train`` and ``vtg distill`` (they override ``train:``)."""
    parser.add_argument("--epochs", type=int, help="number of epochs (train.epochs)")
    parser.add_argument("--batch-size", type=int, help="batch size per process (train.batch_size)")
    parser.add_argument("--lr", type=float, help="AdamW learning rate (train.lr)")
    parser.add_argument("--seed", type=int, help="random seed (train.seed)")
    parser.add_argument("--resume", help="checkpoint to continue from, or 'auto' for OUT/last.ckpt if present")
    parser.add_argument("--devices", type=int, help="processes/devices (default: what torchrun launched, else 1)")
    parser.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto")
    parser.add_argument("--limit-train-batches", type=number_of_batches, help="batches (int) or fraction per epoch")
    parser.add_argument("--limit-val-batches", type=number_of_batches, help="batches (int) or fraction per epoch")
    parser.add_argument("--train-split", default="train", help="split of dataset.yaml to train on")
    parser.add_argument("--val-split", default="val", help="split of dataset.yaml to validate on")


def check_accelerator(accelerator: str) -> None:
    """Refuse ``--accelerator gpu`` at start on a machine where torch sees no GPU (not deep inside Lightning)."""
    import torch

    if accelerator == "gpu" and not torch.cuda.is_available():
        raise UserError("option --accelerator: gpu asked for, but torch sees no CUDA device")


def pick_device(accelerator: str):
    """The torch device of ``--accelerator`` (``auto``: a GPU when there is one)."""
    import torch

    check_accelerator(accelerator)
    return torch.device("cuda" if accelerator != "cpu" and torch.cuda.is_available() else "cpu")


def resume_path(resume: str | None, out: Path) -> Path | None:
    """The checkpoint to resume from: ``auto`` is ``out/last.ckpt`` when it exists, else a fresh start."""
    from vtg.engine.trainer import LAST

    if resume is None:
        return None
    if resume == "auto":
        last = out / LAST
        if not last.is_file():
            print(f"vtg train: no {last} to resume, starting afresh", file=sys.stderr)
            return None
        return last
    path = Path(resume)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found (option --resume)")
    return path


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    """The run's result: one JSON object, or a few lines for a person."""
    if as_json:
        print(to_json(summary))
        return
    print(f"trained {summary['epochs']} epochs; checkpoints in {summary['out']}")
    for name, value in (summary["final"] or {}).items():
        print(f"  {name:24s} {value:8.2f}")
    print(f"  last: {summary['checkpoints']['last']}")
    print(f"  best: {summary['checkpoints']['best']}")


def run_from_args(args: argparse.Namespace, name: str, model_config: dict, source: str, default_out: Path):
    """The :class:`TrainRun` the shared run options (:func:`add_run_arguments`) and ``train:`` describe."""
    from vtg.atomic import check_output
    from vtg.engine.train_config import TrainConfig
    from vtg.engine.trainer import TrainRun

    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "limit_train_batches": args.limit_train_batches,
        "limit_val_batches": args.limit_val_batches,
    }
    train = TrainConfig.from_sections(args.config_dict.get("train"), overrides, source)
    if args.devices is not None and args.devices < 1:
        raise UserError(f"option --devices: expected at least 1, got {args.devices}")
    check_accelerator(args.accelerator)
    # the run folder: writable, and the temporaries of a killed run in it removed (--resume auto reads last.ckpt)
    out = check_output(args.out if args.out is not None else default_out, "folder")
    return TrainRun(
        model_name=name,
        model_config=model_config,
        train=train,
        data=args.data,
        out=out,
        resume=resume_path(args.resume, out),
        accelerator=args.accelerator,
        devices=args.devices,
        train_split=args.train_split,
        val_split=args.val_split,
        config_source=source,
    )
