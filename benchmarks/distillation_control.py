"""Does CLRM distillation pay beyond its extra optimizer steps? make demo's students against label-only
students given as many steps as the distilled ones.

    python -m benchmarks.distillation_control [--quick] [--demo DIR]

The demo's ``vtg distill --compare --seeds 0 1 2`` (configs/distill_demo.yaml) trains per training seed two
students from the same initial weights: the distilled one learns 6 CLRM epochs on the 3200 unlabelled pretrain
queries and then 20 epochs on the 200 labelled train queries, its label-only twin the same 26 epochs on the
labels alone, about a quarter of the distilled student's optimizer steps. Part of distillation's margin could
be those steps. This benchmark trains, per seed, a third student: the label-only twin's own config (model,
batch, learning rate and schedule, seed, per-epoch validation) with as many epochs on the labels as reach the
distilled student's optimizer steps (each run's count: the last epoch's step in its ``metrics.json``). It is scored
from its last checkpoint, as the demo's students are, on the demo's val split (1000 queries) by the comparison's
own evaluation (:func:`spiking.distillation.comparison.evaluate`), beside the demo's two students as its
``student/comparison.json`` has them. Nothing is chosen on that split.

The demo is read from ``--demo DIR`` (a finished ``python -m vtg.demo``; ``make demo``'s ``runs/demo`` has one
seed) or, by default, made by ``python -m vtg.demo --seeds 0 1 2`` in runs/bench/distillation_control/demo when
that has no ``summary.json`` (about 30 minutes on 2 cores; ``--quick``: the demo's ``--quick`` and its one
seed). benchmarks/results/distillation_control.{json,md,png}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import HEADLINES, WORK, headline_pair, machine_info, train_once, write_report
from vtg.json_file import to_json

NAME = "distillation_control"
OUT = WORK / NAME
# the three students of a seed, in the order of the tables
STUDENTS = ("distilled", "label_only", "label_only_equal_steps")


def say(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def demo_output(demo: Path | None, quick: bool) -> Path:
    """A finished demo's folder: ``demo`` as given, else this benchmark's own, made (or finished: the demo
    reuses the steps it has done) by :class:`vtg.demo.Demo`."""
    if demo is not None:
        return demo
    from vtg.demo import COMPARISON_SEEDS, Demo

    own = OUT / ("demo_quick" if quick else "demo")
    if not (own / "summary.json").is_file():
        seeds = " ".join(map(str, COMPARISON_SEEDS))
        minutes = 3 if quick else 30
        say(f"python -m vtg.demo --seeds {seeds}{' --quick' if quick else ''} --out {own} (about {minutes} minutes)")
        own.mkdir(parents=True, exist_ok=True)
        try:
            Demo(own, quick, seeds=COMPARISON_SEEDS).run()
        except SystemExit as stop:  # a failed demo step exits; run_all goes on with the other benchmarks
            raise RuntimeError(f"the demo in {own} stopped: {stop}") from None
    return own


def unfinished(demo: Path) -> str | None:
    """Why ``demo`` is not a finished ``make demo`` output this benchmark can read, or None."""
    for needed in ("summary.json", "student/comparison.json", "data/dataset.yaml"):
        if not (demo / needed).is_file():
            return f"{demo / needed} is missing (not a finished make demo output)"
    return None


def optimizer_steps(run: Path) -> int:
    """The optimizer steps a training run took: the step of the last epoch in its ``metrics.json``."""
    return int(json.loads((run / "metrics.json").read_text())["epochs"][-1]["step"])


def seed_folder(students: Path, seed: int, seeds: list[int]) -> Path:
    """Where ``vtg distill --compare`` put a seed's distilled student (its label-only twin in ``label_only/``)."""
    return students / f"seed_{seed}" if len(seeds) > 1 else students


def train_control(seed: int, folder: Path, data: Path) -> dict[str, Any]:
    """The label-only twin's config with the distilled student's optimizer steps, trained into this benchmark's
    folder (one per dataset: its ``dataset.yaml`` and train annotations' bytes, so that a control is reused only
    for the labels it was trained on); returns its steps, epochs and checkpoint."""
    twin = folder / "label_only"
    config = yaml.safe_load((twin / "config.yaml").read_text())
    twin_steps, twin_epochs = optimizer_steps(twin), config["train"]["epochs"]
    target = optimizer_steps(folder)  # the distilled student's: CLRM stage and task stage
    config["train"]["epochs"] = math.ceil(target * twin_epochs / twin_steps)
    labels = hashlib.sha256((data / "dataset.yaml").read_bytes() + (data / "train.jsonl").read_bytes())
    out = OUT / "controls" / labels.hexdigest()[:12] / f"seed{seed}"
    label = f"label-only with equal steps for seed {seed} (target {target} steps)"
    checkpoint = train_once(config, out / "config.yaml", out / "label_only_equal_steps", data, say, label)
    return {
        "checkpoint": checkpoint,
        "epochs": config["train"]["epochs"],
        "steps": optimizer_steps(checkpoint.parent),
        "distilled_steps": target,
        "label_only_steps": twin_steps,
        "label_only_epochs": twin_epochs,
    }


def run(quick: bool = False, demo: Path | None = None) -> dict[str, Any]:
    from spiking.distillation.comparison import evaluate

    folder = demo_output(demo, quick)
    comparison = json.loads((folder / "student" / "comparison.json").read_text())
    seeds, split, data = comparison["seeds"], comparison["split"], folder / "data"
    runs: dict[str, dict[str, Any]] = {}
    for index, seed in enumerate(seeds):
        control = train_control(seed, seed_folder(folder / "student", seed, seeds), data)
        metrics = evaluate(control["checkpoint"], data, split, comparison["budget"]["batch_size"])["metrics"]
        runs[str(seed)] = {
            "distilled": {"steps": control["distilled_steps"],
                          "metrics": comparison["models"]["distilled"]["runs"][index]["metrics"]},
            "label_only": {"steps": control["label_only_steps"], "epochs": control["label_only_epochs"],
                           "metrics": comparison["models"]["label_only"]["runs"][index]["metrics"]},
            "label_only_equal_steps": {"steps": control["steps"], "epochs": control["epochs"], "metrics": metrics},
        }  # fmt: skip
        say(f"seed {seed}: " + "; ".join(
            f"{student} ({runs[str(seed)][student]['steps']} steps) "
            + headline_pair(runs[str(seed)][student]["metrics"])
            for student in STUDENTS
        ))  # fmt: skip
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "demo": str(folder),
        "method": (
            f"the demo's distilled and label-only students (vtg distill --compare, training seeds {seeds}) and, per "
            "seed, the label-only twin's config trained for the distilled student's optimizer steps; all scored from "
            f"their last checkpoints on the demo's {split} split by spiking.distillation.comparison.evaluate"
        ),
        "runs": runs,
        "summary": summarise(runs),
    }
    write_report(NAME, result, markdown, plot)
    return result


def summarise(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per student the mean and sample std over seeds; the distilled student's margin over each label-only one
    and the seeds where it is ahead."""
    seeds = list(runs)

    def values(student: str, metric: str) -> list[float]:
        return [runs[seed][student]["metrics"][metric] for seed in seeds]

    summary: dict[str, Any] = {
        student: {
            "steps": statistics.fmean(runs[seed][student]["steps"] for seed in seeds),
            "mean": {m: statistics.fmean(values(student, m)) for m in HEADLINES},
            "std": {m: statistics.stdev(values(student, m)) if len(seeds) > 1 else 0.0 for m in HEADLINES},
        }
        for student in STUDENTS
    }
    for other in STUDENTS[1:]:
        summary[f"distilled_minus_{other}"] = {
            m: summary["distilled"]["mean"][m] - summary[other]["mean"][m] for m in HEADLINES
        }
        summary[f"distilled_ahead_of_{other}"] = {
            m: sum(a > b for a, b in zip(values("distilled", m), values(other, m))) for m in HEADLINES
        }
    return summary


def markdown(result: dict[str, Any]) -> str:
    """Means over the seeds with their std, the margins, and each seed's students."""
    summary, runs = result["summary"], result["runs"]
    seeds = list(runs)
    lines = [
        f"{result['method']}.",
        "",
        "| student | optimizer steps | " + " | ".join(f"{m} (mean ± std)" for m in HEADLINES) + " |",
        "|---|---:|" + "---:|" * len(HEADLINES),
    ]
    for student in STUDENTS:
        s = summary[student]
        cells = [f"{s['mean'][m]:.1f} ± {s['std'][m]:.1f}" for m in HEADLINES]
        lines.append(f"| {student} | {s['steps']:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "| distilled minus | " + " | ".join(HEADLINES) + " |", "|---|" + "---:|" * len(HEADLINES)]
    for other in STUDENTS[1:]:
        margin, ahead = summary[f"distilled_minus_{other}"], summary[f"distilled_ahead_of_{other}"]
        cells = [f"{margin[m]:+.1f} (ahead on {ahead[m]} of {len(seeds)} seeds)" for m in HEADLINES]
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    lines += ["", "| seed | " + " | ".join(STUDENTS) + " |", "|---|" + "---|" * len(STUDENTS)]
    for seed in seeds:
        cells = [headline_pair(runs[seed][s]["metrics"]) for s in STUDENTS]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    """Bars: each student's mean per headline metric, its seeds as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, runs = result["summary"], result["runs"]
    fig, axes = plt.subplots(1, len(HEADLINES), figsize=(9, 3.4))
    for ax, metric in zip(axes, HEADLINES):
        for x, student in enumerate(STUDENTS):
            ax.bar(x, summary[student]["mean"][metric], color=f"C{x}", alpha=0.7)
            seeds = [runs[seed][student]["metrics"][metric] for seed in runs]
            ax.scatter([x] * len(seeds), seeds, color="black", s=10, zorder=3)
        ax.set_xticks(range(len(STUDENTS)))
        labels = [f"{s.replace('_', ' ')}\n{summary[s]['steps']:.0f} steps" for s in STUDENTS]
        ax.set_xticklabels(labels, fontsize=7)
        ax.set(ylabel=metric, title=metric)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def headline(result: dict[str, Any]) -> dict[str, Any]:
    return {
        key: result["summary"][key] for key in ("distilled_minus_label_only", "distilled_minus_label_only_equal_steps")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the demo's --quick (one seed, 2 epochs)")
    parser.add_argument("--demo", type=Path, help="a finished make demo output to read (e.g. runs/demo)")
    args = parser.parse_args(argv)
    if args.quick and args.demo is not None:
        print(f"{NAME}: option --quick: it runs its own quick demo; give --demo without it", file=sys.stderr)
        return 2
    if args.demo is not None and (problem := unfinished(args.demo)):
        print(f"{NAME}: option --demo: {problem}", file=sys.stderr)
        return 2
    print(to_json(headline(run(args.quick, args.demo))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
