"""``vtg distill``: CLRM knowledge transfer from a frozen teacher to SpikingVTG (paper Sec. 4.5.1).

    vtg train --config configs/univtg_demo.yaml --data DIR --out runs/univtg
    vtg distill --teacher runs/univtg/best.ckpt --config configs/distill_demo.yaml --data DIR --out runs/distill
    vtg distill ... --compare        # also a label-only student of the same budget, and the comparison

The config's ``model:`` section is the student (``spikingvtg``, any variant), ``train:`` the run (the
engine's :mod:`vtg.engine.train_config`), ``distill:`` the CLRM loss and schedule
(:mod:`spiking.distillation.recipe`); a top-level ``teacher:`` may stand for ``--teacher``. The output folder gets
the engine's ``config.yaml``, ``metrics.json``, ``last.ckpt`` and ``best.ckpt`` (the whole recipe, for
``--resume``) and ``student.ckpt`` (the distilled student alone, for ``vtg predict``, ``vtg-export`` and
``vtg energy``). ``--compare`` then trains the label-only student with the same model, ``train:``
section, data and seed into ``OUT/label_only`` (through ``vtg train``'s engine) and writes
``OUT/comparison.json`` and ``OUT/comparison.md``: teacher, distilled and label-only student on the
validation split (:mod:`spiking.distillation.comparison`). ``--seeds 0 1 2`` repeats both students for each training
seed, in ``OUT/seed_S`` (``OUT/seed_S/label_only``), and the comparison gives their means, standard
deviations and the seeds where distillation won: one seed's margin of a few queries says little.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vtg.engine.run_options import add_run_arguments, print_summary, resume_path, run_from_args
from vtg.errors import UserError, check_seed
from vtg.json_file import to_json

if TYPE_CHECKING:
    from vtg.engine.trainer import TrainRun

LABEL_ONLY = "label_only"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", type=Path, help="checkpoint of a trained SDST or UniVTG-style teacher")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (with dataset.yaml)")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/distill)")
    add_run_arguments(parser)  # --epochs counts the CLRM stage too
    parser.add_argument(
        "--compare", action="store_true", help="also train the label-only student and write OUT/comparison.{json,md}"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", metavar="SEED", help="with --compare: one pair of students per training seed"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="with several --seeds: train N seeds' students side by side, each in its own process on one thread "
        "(a small student's step is mostly per-operation overhead, so threads pay less than processes: the demo "
        "student's training step takes 0.19 s on one thread and 0.12 s on two, benchmarks/simulation_speed)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with metrics and checkpoints")


def run(args: argparse.Namespace) -> int:
    from lightning.pytorch.utilities import rank_zero_only

    from spiking.distillation.comparison import compare, markdown, write_comparison
    from spiking.distillation.recipe import STUDENT
    from vtg.engine.model_config import model_section

    source = str(args.config) if args.config is not None else "config"
    if args.teacher is None:
        raise UserError(f"option --teacher: missing (or a top-level 'teacher:' in {source})")
    # the student's name first: model_section checks every field against the model named
    section = args.config_dict.get("model")
    if isinstance(section, dict) and section.get("name", STUDENT) != STUDENT:
        raise UserError(f"{source}: field 'model.name': the student must be '{STUDENT}', got {section['name']!r}")
    _, model_config = model_section(args.config_dict, STUDENT, source)
    seeds = check_seeds(args)
    spec = run_from_args(args, STUDENT, model_config, source, default_out=Path("runs") / "distill")
    seeds = seeds or [spec.train.seed]
    out = spec.out
    runs = []  # one per seed
    for seed in seeds:
        folder = out if len(seeds) == 1 else out / f"seed_{seed}"
        runs.append(
            dataclasses.replace(
                spec,
                out=folder,
                train=dataclasses.replace(spec.train, seed=seed),
                resume=spec.resume if len(seeds) == 1 else resume_path(args.resume, folder),
            )
        )
    train = functools.partial(
        train_seed, teacher=args.teacher, section=args.config_dict.get("distill"), compare=args.compare,
        resume=args.resume,
    )  # fmt: skip
    if args.jobs == 1:
        trained = [train(run) for run in runs]
    else:
        # spawn, not fork: the parent may hold OpenMP threads, which a forked child inherits broken
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(args.jobs, len(runs)), mp_context=context, initializer=one_thread) as pool:
            trained = list(pool.map(train, runs))
    summaries = {seed: summary for seed, (summary, _) in zip(seeds, trained)}
    students = {seed: pair for seed, (_, pair) in zip(seeds, trained) if pair is not None}
    summary = summaries[seeds[0]] if len(seeds) == 1 else {"out": str(out), "seeds": summaries}
    if args.compare and rank_zero_only.rank == 0:
        recipe = summaries[seeds[0]]["recipe"]
        report = compare(args.teacher, students, args.data, args.val_split, spec.train, recipe)
        summary["comparison"] = write_comparison(report, out)
        summary["comparison_metrics"] = report["models"]
    if rank_zero_only.rank == 0 and args.json:
        print(to_json(summary))
    elif rank_zero_only.rank == 0:
        for seed, each in summaries.items():
            print(f"seed {seed}: ", end="")
            print_summary(each, as_json=False)
            print(f"  student: {each['checkpoints']['student']}")
        if args.compare:
            print(markdown(report), end="")
            print(f"comparison: {summary['comparison']['markdown']} and {summary['comparison']['json']}")
    return 0


def train_seed(
    run: TrainRun, teacher: Path, section: Any, compare: bool, resume: str | None
) -> tuple[dict[str, Any], dict[str, Path] | None]:
    """One seed's distilled student and, with ``compare``, its label-only twin: the same student, train
    section, data and seed on labels alone, by ``vtg train``'s engine (resumed from its own last checkpoint
    when ``resume`` is set). Returns the distillation's summary and the pair's checkpoints (None without
    ``compare``); a top-level function, so that a ``--jobs`` worker process can run it."""
    from spiking.distillation.recipe import fit_distillation
    from vtg.engine.trainer import fit

    summary = fit_distillation(run, teacher, section)
    if not compare:
        return summary, None
    baseline_out = run.out / LABEL_ONLY
    baseline = fit(dataclasses.replace(run, out=baseline_out, resume=resume_path(resume and "auto", baseline_out)))
    pair = {"distilled": Path(summary["checkpoints"]["student"]), "label_only": Path(baseline["checkpoints"]["last"])}
    return summary, pair


def one_thread() -> None:
    """A ``--jobs`` worker's start: one intra-op thread, and no thread governor (``OMP_NUM_THREADS`` set)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def check_seeds(args: argparse.Namespace) -> list[int] | None:
    """The training seeds of ``--seeds`` (with ``--compare``), or None: the one of ``train.seed``."""
    if args.jobs < 1:
        raise UserError(f"option --jobs: expected a positive number of processes, got {args.jobs}")
    if args.jobs > 1 and (args.seeds is None or len(args.seeds) < 2):
        raise UserError("option --jobs: only with several --seeds (their students train side by side)")
    if args.seeds is None:
        return None
    if not args.compare:
        raise UserError("option --seeds: only with --compare (a pair of students per seed)")
    if len(set(args.seeds)) != len(args.seeds):
        raise UserError(f"option --seeds: repeated seed in {args.seeds}")
    for seed in args.seeds:  # all of them before the first pair trains
        check_seed(seed, "option --seeds")
    if len(args.seeds) > 1 and args.resume not in (None, "auto"):
        raise UserError("option --resume: with several --seeds, only 'auto' (each seed's OUT/seed_S/last.ckpt)")
    return list(args.seeds)
