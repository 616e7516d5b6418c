"""``vtg info``: what a checkpoint holds, or the size of a model built from a config.

    vtg info --checkpoint runs/univtg/best.ckpt [--json]
    vtg info --model sdst --config configs/sdst_paper.yaml \\
        --dims video_dim=2816,text_dim=512,video_levels=1,text_levels=1

Prints the model's name, config, data dims, parameter counts by top-level module (and the total), and
for a checkpoint also the package versions, the training config, its epoch and its val metrics.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vtg.errors import UserError
from vtg.json_file import to_json

DIM_DEFAULTS = {"video_levels": 1, "text_levels": 1}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="checkpoint to describe")
    # dest differs from the config's "model:" section, which must not become this option's default
    parser.add_argument(
        "--model", dest="model_name", metavar="NAME", help="without --checkpoint: model to build (or model.name)"
    )
    parser.add_argument(
        "--dims",
        help="without --checkpoint: video_dim=N,text_dim=N[,video_levels=K,text_levels=K] (levels default to 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def parse_dims(text: str | None) -> dict[str, int]:
    """``video_dim=2816,text_dim=512`` as a dims dict (levels default to 1); mistakes name ``--dims``."""
    from vtg.checkpoint import DIM_NAMES

    if not text:
        raise UserError("option --dims: required without --checkpoint (e.g. video_dim=2816,text_dim=512)")
    dims: dict[str, int] = dict(DIM_DEFAULTS)
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in DIM_NAMES:
            raise UserError(f"option --dims: unknown dim {name!r} (choose from {', '.join(DIM_NAMES)})")
        try:
            dims[name] = int(value)
        except ValueError:
            raise UserError(f"option --dims: {name} must be an integer, got {value!r}") from None
        if dims[name] < 1:
            raise UserError(f"option --dims: {name} must be positive, got {dims[name]}")
    missing = [name for name in DIM_NAMES if name not in dims]
    if missing:
        raise UserError(f"option --dims: missing {', '.join(missing)}")
    return dims


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """The facts to print, from the checkpoint or from the config."""
    from vtg.checkpoint import METADATA_KEY, load_model
    from vtg.engine.model_config import model_section
    from vtg.engine.parameters import parameter_counts
    from vtg.models import build_model

    if args.checkpoint is not None:
        model, checkpoint = load_model(args.checkpoint)
        metadata = checkpoint[METADATA_KEY]
        return {
            "checkpoint": str(args.checkpoint),
            "model": metadata["model_name"],
            "config": metadata["model_config"],
            "dims": metadata["dims"],
            "parameters": parameter_counts(model),
            "epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
            "metrics": metadata["metrics"],
            "train": metadata["train_config"],
            "versions": metadata.get("versions"),  # optional in a checkpoint's metadata (vtg/checkpoint.py)
        }
    if args.config is None and args.model_name is None:
        raise UserError("option --checkpoint: give a checkpoint, or --model/--config and --dims")
    source = str(args.config) if args.config is not None else "config"
    name, config = model_section(args.config_dict, args.model_name, source)
    dims = parse_dims(args.dims)
    model = build_model(name, config, dims)
    return {"model": name, "config": config, "dims": dims, "parameters": parameter_counts(model)}


def print_text(info: dict[str, Any]) -> None:
    """A person's view of :func:`describe`."""
    from vtg.checkpoint import format_dims
    from vtg.engine.parameters import human_count

    if "checkpoint" in info:
        print(f"checkpoint: {info['checkpoint']} (epoch {info['epoch']}, step {info['global_step']})")
    print(f"model: {info['model']}")
    print(f"dims: {format_dims(info['dims'])}")
    print("parameters:")
    for name, count in info["parameters"].items():
        print(f"  {name:24s} {count:>14,d}  {human_count(count)}")
    print("config:")
    for key, value in info["config"].items():
        print(f"  {key}: {value}")
    for section in ("train", "metrics", "versions"):
        if section in info:
            print(f"{section}:")
            for key, value in info[section].items():
                print(f"  {key}: {value}")


def run(args: argparse.Namespace) -> int:
    info = describe(args)
    if args.json:
        print(to_json(info))
    else:
        print_text(info)
    return 0
