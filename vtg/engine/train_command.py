"""``vtg train``: train SpikingVTG, SDST or the UniVTG-style teacher on a dataset folder.

    vtg train --model univtg --config configs/univtg_demo.yaml --data data/tiny --out runs/univtg
    vtg train --config configs/univtg_demo.yaml --data data/tiny --out runs/univtg --resume auto
    torchrun --nproc_per_node 2 -m vtg.cli train --config ... --data ... --accelerator cpu

The config's ``model:`` section (with ``name``) builds the model, its ``train:`` section sets the run
(:mod:`vtg.engine.train_config`); the options below override it. ``--resume auto`` continues from
``OUT/last.ckpt`` when there is one and starts afresh otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vtg.errors import UserError


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # dest differs from the config's "model:" section, which must not become this option's default
    parser.add_argument("--model", dest="model_name", metavar="NAME", help="spikingvtg, sdst or univtg (model.name)")
    # required, but not by argparse: a config's top-level "data:" may give it
    parser.add_argument("--data", type=Path, help="dataset folder (with dataset.yaml); required")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/MODEL)")
    add_run_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object with metrics and checkpoints")


def check_accelerator(accelerator: str) -> None:
    """Refuse ``--accelerator gpu`` at start on a machine where torch sees no GPU (not deep inside Lightning)."""
    import torch

    if accelerator == "gpu" and not torch.cuda.is_available():
        raise UserError("option --accelerator: gpu asked for, but torch sees no CUDA device")


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
        print(json.dumps(summary))
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


def run(args: argparse.Namespace) -> int:
    from lightning.pytorch.utilities import rank_zero_only

    from vtg.engine.model_config import model_section
    from vtg.engine.trainer import fit

    if args.data is None:
        raise UserError("option --data: required (the dataset folder)")
    source = str(args.config) if args.config is not None else "config"
    name, model_config = model_section(args.config_dict, args.model_name, source)
    run_spec = run_from_args(args, name, model_config, source, default_out=Path("runs") / name)
    summary = fit(run_spec)
    if rank_zero_only.rank == 0:
        print_summary(summary, args.json)
    return 0
