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
from pathlib import Path

from vtg.engine.run_options import add_run_arguments, print_summary, run_from_args
from vtg.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # dest differs from the config's "model:" section, which must not become this option's default
    parser.add_argument("--model", dest="model_name", metavar="NAME", help="spikingvtg, sdst or univtg (model.name)")
    # required, but not by argparse: a config's top-level "data:" may give it
    parser.add_argument("--data", type=Path, help="dataset folder (with dataset.yaml); required")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/MODEL)")
    add_run_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object with metrics and checkpoints")


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
