"""``vtg distill``: CLRM knowledge transfer from a frozen teacher to SpikingVTG (paper Sec. 4.5.1).

    vtg train --config configs/univtg_demo.yaml --data DIR --out runs/univtg
    vtg distill --teacher runs/univtg/best.ckpt --config configs/distill_demo.yaml --data DIR --out runs/distill
    vtg distill ... --compare        # also a label-only student of the same budget, and the comparison

The config's ``model:`` section is the student (``spikingvtg``, any variant), ``train:`` the run (the
engine's :mod:`vtg.engine.train_config`), ``distill:`` the CLRM loss and schedule
(:mod:`spiking.distill`); a top-level ``teacher:`` may stand for ``--teacher``. The output folder gets
the engine's ``config.yaml``, ``metrics.json``, ``last.ckpt`` and ``best.ckpt`` (the whole recipe, for
``--resume``) and ``student.ckpt`` (the distilled student alone, for ``vtg predict``, ``vtg-export`` and
``vtg energy``). ``--compare`` then trains the label-only student with the same model, ``train:``
section, data and seed into ``OUT/label_only`` (through ``vtg train``'s engine) and writes
``OUT/comparison.json`` and ``OUT/comparison.md``: teacher, distilled and label-only student on the
validation split (:mod:`spiking.comparison`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vtg.engine.train_command import add_run_arguments, print_summary, resume_path, run_from_args
from vtg.errors import UserError

LABEL_ONLY = "label_only"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", type=Path, help="checkpoint of a trained SDST or UniVTG-style teacher")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (with dataset.yaml)")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/distill)")
    add_run_arguments(parser)  # --epochs counts the CLRM stage too
    parser.add_argument(
        "--compare", action="store_true", help="also train the label-only student and write OUT/comparison.{json,md}"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with metrics and checkpoints")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from lightning.pytorch.utilities import rank_zero_only

    from spiking.comparison import compare, write_comparison
    from spiking.distill import STUDENT, fit_distillation
    from vtg.engine.model_config import model_section
    from vtg.engine.trainer import fit

    source = str(args.config) if args.config is not None else "config"
    if args.teacher is None:
        raise UserError(f"option --teacher: missing (or a top-level 'teacher:' in {source})")
    name, model_config = model_section(args.config_dict, None, source)
    if name != STUDENT:
        raise UserError(f"{source}: field 'model.name': the student must be '{STUDENT}', got {name!r}")
    spec = run_from_args(args, STUDENT, model_config, source, default_out=Path("runs") / "distill")
    out = spec.out
    summary = fit_distillation(spec, args.teacher, args.config_dict.get("distill"))
    if args.compare:
        # the same student, train section, data and seed, on labels alone: the engine's own vtg train
        baseline_out = out / LABEL_ONLY
        baseline = fit(
            dataclasses.replace(spec, out=baseline_out, resume=resume_path(args.resume and "auto", baseline_out))
        )
        if rank_zero_only.rank == 0:
            report = compare(
                {
                    "teacher": args.teacher,
                    "distilled": Path(summary["checkpoints"]["student"]),
                    "label_only": Path(baseline["checkpoints"]["last"]),
                },
                args.data,
                args.val_split,
                spec.train,
            )
            summary["comparison"] = write_comparison(report, out)
            summary["comparison_metrics"] = report["models"]
    if rank_zero_only.rank == 0:
        print_summary(summary, args.json)
        if not args.json:
            print(f"  student: {summary['checkpoints']['student']}")
            if args.compare:
                print(f"  comparison: {summary['comparison']['markdown']}")
    return 0
