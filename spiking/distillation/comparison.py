"""The distillation report: teacher, CLRM-distilled students and label-only students on one split.

Every checkpoint is evaluated afresh on the same split with the same code
(:func:`vtg.evaluation.evaluate_checkpoint`), so the rows are comparable whatever the checkpoints
recorded. With several training seeds (``vtg distill --compare --seeds 0 1 2``) each seed gives a distilled and a
label-only student of the same initial weights and batches; a student row is then the mean over the
seeds (``std``: the sample standard deviation), and ``wins`` counts, per metric, the seeds where the
distilled student beats its label-only twin. ``comparison.json``::

    {"data": DIR, "split": "val", "budget": {"epochs": .., "batch_size": .., "lr": ..}, "seeds": [0, ..],
     "recipe": {the distilled student's distill: section},
     "headline": ["MR-full-R1@0.5", ...],
     "models": {"teacher": {"checkpoint": .., "model": "univtg", "variant": null, "metrics": {...}},
                "distilled": {"model": "spikingvtg", "variant": "1bit_nf", "metrics": {mean}, "std": {...},
                              "runs": [{"seed": 0, "checkpoint": .., "metrics": {...}}, ...]},
                "label_only": {... as distilled}},
     "gaps": {"distilled_minus_label_only": {metric: ..}, "teacher_minus_distilled": {metric: ..}},
     "wins": {metric: seeds where distilled > label_only}}

``comparison.md`` is the same as tables for a person, ``comparison.png`` as bars
(:mod:`spiking.distillation.comparison_plot`).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from vtg.atomic import atomic_write_text
from vtg.engine.train_config import TrainConfig
from vtg.json_file import to_json

HEADLINE = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1")
STUDENTS = ("distilled", "label_only")


def evaluate(checkpoint: Path, data: Path, split: str, batch_size: int) -> dict[str, Any]:
    """The official metrics of ``checkpoint`` on ``split`` of ``data`` (:func:`vtg.evaluation.evaluate_checkpoint`,
    at the model's own Tc), and what model it holds."""
    from vtg.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, data, split, batch_size=batch_size)
    return {
        "checkpoint": str(checkpoint),
        "model": result.opened.model_name,
        "variant": result.opened.metadata["model_config"].get("variant"),
        "metrics": result.metrics,
    }


def over_seeds(runs: list[dict[str, Any]], seeds: list[int], names: list[str]) -> dict[str, Any]:
    """One student row: the ``runs`` (one evaluation per seed) and their mean and sample std per metric."""
    values = {name: [run["metrics"][name] for run in runs] for name in names}
    return {
        "model": runs[0]["model"],
        "variant": runs[0]["variant"],
        "metrics": {name: round(statistics.fmean(v), 4) for name, v in values.items()},
        "std": {name: round(statistics.stdev(v), 4) if len(v) > 1 else 0.0 for name, v in values.items()},
        "runs": [
            {"seed": seed, "checkpoint": run["checkpoint"], "metrics": run["metrics"]} for seed, run in zip(seeds, runs)
        ],
    }


def compare(
    teacher: Path,
    students: dict[int, dict[str, Path]],
    data: Path,
    split: str,
    train: TrainConfig,
    recipe: dict[str, Any],
) -> dict[str, Any]:
    """The report (module docstring) of the ``teacher`` checkpoint and, per seed, the ``distilled`` and
    ``label_only`` student checkpoints: ``{seed: {"distilled": path, "label_only": path}}``; ``recipe`` is
    the distilled students' ``distill:`` section."""
    seeds = list(students)
    teacher_entry = evaluate(teacher, data, split, train.batch_size)
    evaluated = {
        role: [evaluate(students[seed][role], data, split, train.batch_size) for seed in seeds] for role in STUDENTS
    }
    names = [name for name in HEADLINE if name in evaluated["distilled"][0]["metrics"]]
    models = {"teacher": teacher_entry, **{role: over_seeds(evaluated[role], seeds, names) for role in STUDENTS}}

    def gap(high: str, low: str) -> dict[str, float]:
        a, b = models[high]["metrics"], models[low]["metrics"]
        return {name: round(a[name] - b[name], 4) for name in names if name in a}

    pairs = list(zip(evaluated["distilled"], evaluated["label_only"]))
    return {
        "data": str(data),
        "split": split,
        "budget": {key: getattr(train, key) for key in ("epochs", "batch_size", "lr")},
        "seeds": seeds,
        "recipe": recipe,
        "headline": names,
        "models": models,
        "gaps": {
            "distilled_minus_label_only": gap("distilled", "label_only"),
            "teacher_minus_distilled": gap("teacher", "distilled"),
        },
        "wins": {name: sum(d["metrics"][name] > b["metrics"][name] for d, b in pairs) for name in names},
    }


def markdown(report: dict[str, Any]) -> str:
    """``comparison.md``: the models' table (means over the seeds, with their std), the gaps, the wins,
    and with several seeds each seed's students."""
    names, seeds = report["headline"], report["seeds"]
    budget = ", ".join(f"{key} {value}" for key, value in report["budget"].items())
    several = len(seeds) > 1
    over = f"mean ± std over seeds {', '.join(map(str, seeds))}" if several else f"seed {seeds[0]}"
    lines = [
        "# CLRM distillation: teacher, distilled and label-only student",
        "",
        f"Data `{report['data']}`, split `{report['split']}`; both students: {budget}; students: {over}.",
        "",
        schedule_line(report["recipe"]),
        "",
        "| model | checkpoint | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for role, entry in report["models"].items():
        label = entry["model"] + (f" ({entry['variant']})" if entry["variant"] else "")
        runs = entry.get("runs", [entry])  # the teacher is its own single run
        checkpoint = f"`{runs[0]['checkpoint']}`" if len(runs) == 1 else f"{len(runs)} runs below"
        cells = []
        for name in names:
            cell = f"{entry['metrics'][name]:.2f}"
            if several and "std" in entry:
                cell += f" ± {entry['std'][name]:.2f}"
            cells.append(cell)
        lines.append(f"| {role}: {label} | {checkpoint} | {' | '.join(cells)} |")
    for gap, values in report["gaps"].items():
        row = " | ".join(f"{values[name]:+.2f}" for name in names)
        lines.append(f"| {gap.replace('_', ' ')} | | {row} |")
    wins = " | ".join(f"{report['wins'][name]}/{len(seeds)}" for name in names)
    lines.append(f"| seeds where distilled beats label only | | {wins} |")
    if several:
        lines += [
            "",
            "Per seed:",
            "",
            "| seed | student | " + " | ".join(names) + " |",
            "|---|---|" + "---:|" * len(names),
        ]
        for i, seed in enumerate(seeds):
            for role in STUDENTS:
                metrics = report["models"][role]["runs"][i]["metrics"]
                lines.append(f"| {seed} | {role} | " + " | ".join(f"{metrics[name]:.2f}" for name in names) + " |")
    return "\n".join(lines) + "\n"


def schedule_line(recipe: dict[str, Any]) -> str:
    """What the distilled student's epochs did (spiking/distillation/recipe.py), against the label-only one's."""
    stage, weight = recipe["clrm_epochs"], recipe["task_stage_clrm_weight"]
    task = "the labels alone" if weight == 0 else f"the labels with CLRM at weight {weight:g} alongside the task"
    if stage == 0:
        return f"The distilled student trains on {task} from its first epoch."
    if recipe["transfer_split"]:
        where = f"split `{recipe['transfer_split']}`, labels unused"
    else:
        where = f"the train split, task weight {recipe['clrm_stage_task_weight']:g}"
    return (
        f"The distilled student's first {stage} epoch{'s' if stage > 1 else ''} form its CLRM stage ({where}), "
        f"the rest train on {task}; the label-only student trains every epoch on the labels."
    )


def write_comparison(report: dict[str, Any], out: Path) -> dict[str, str]:
    """Write ``out/comparison.json``, ``out/comparison.md`` and the bar chart ``out/comparison.png``;
    return their paths."""
    from spiking.distillation.comparison_plot import plot_comparison

    paths = {"json": out / "comparison.json", "markdown": out / "comparison.md", "plot": out / "comparison.png"}
    atomic_write_text(paths["json"], to_json(report, indent=2) + "\n")
    atomic_write_text(paths["markdown"], markdown(report))
    plot_comparison(report, paths["plot"])
    return {kind: str(path) for kind, path in paths.items()}
