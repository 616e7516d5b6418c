"""SDST against the UniVTG-style model on the same labels, and the paper's main ablations, beside its numbers.

    python -m benchmarks.sdst_ablations [--quick]

Data: the demo preset, seed 0 (``vtg data synth --preset demo --seed 0``: 800 train, 200 val queries).
Every SDST run is configs/sdst_demo.yaml (the last level refined K times, a constant rate after a short
warm-up) with one switch changed (:data:`VARIANTS`), trained on the train split and scored from its last
checkpoint on val. The switches and the paper's rows they mirror (QVHighlights val, InternVideo2 features):

* RDSA (the full model) against Def. CA and standard CA (Tab. 5) and no video attention at all in the
  sparse stream (Tab. 7, "w/o RDSA");
* shared against unshared levels (Tab. J);
* with and without actionness (Tab. E, "w/o L_act": no head, ranking by p);
* the dense stream alone (MR losses off: HD from the dense stream and the alignment losses; no paper row);
* the focal loss normalised per ground-truth moment (DETR's practice) instead of Eq. 17's per query (no
  paper row: the ranking diagnosis below is why it is here).
* Table A's schedule scaled to the demo instead of the preset's constant rate (:func:`table_a_train`:
  linear warm-up over the first 15% of the steps as 2000 of QVHighlights' ~13,000, then the lr x0.1 every
  third of the epochs as every 20 of 60), and every level of the synthetic data instead of the last (no
  paper rows: the two settings under which the queries collapsed onto fixed windows, docs/SDST.md).

The UniVTG-style model trains with configs/univtg_demo.yaml and at the shape and lr of
benchmarks/student_vs_nonspiking.py (D 64, 2 layers, lr 3e-3), 20 epochs each. For every SDST run the
ranking diagnosis reads its val predictions: R1@0.5 of the query ranked first by Eq. 23's confidence, by p
alone, by actionness alone, and of the best query (an oracle ranking), which separates localisation from
ranking. ``--quick``: 2 epochs per run (a smoke run, about 5 minutes; its numbers say nothing).
benchmarks/results/sdst_ablations.{json,md}.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.common import ROOT, WORK, machine_info, quick_main, run_json, tool, train_once, write_report
from benchmarks.student_vs_nonspiking import REFERENCE_LR, SHAPE, seed_data

NAME = "sdst_ablations"
SEED = 0
EPOCHS = 24  # 1200 optimizer steps of batch 16 on 800 queries; about 6 min a run at ~15 s an epoch
QUICK_EPOCHS = 2
UNIVTG_EPOCHS = 20
BATCH_SIZE = 16
METRICS = ("MR-full-R1@0.5", "MR-full-mAP", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1")
# name -> (model switches over configs/sdst_demo.yaml, "train": "table_a" for Table A's schedule; the paper's
# row for them or None, where it is)
VARIANTS: dict[str, tuple[dict[str, Any], tuple[float, ...] | None, str]] = {
    "sdst": ({}, (73.68, 55.60, 44.00, 72.00), "Tab. 1 val (RDSA, shared, actionness)"),
    "cls_per_moment": ({"cls_normalization": "boxes"}, None, "no paper row (DETR's focal normalisation)"),
    "deformable_ca": ({"sparse_attention": "deformable_ca"}, (72.58, 54.27, 43.26, 70.58), "Tab. 5 Def. CA"),
    "standard_ca": ({"sparse_attention": "standard_ca"}, (70.77, 42.72, 43.16, 69.87), "Tab. 5 Stand. CA"),
    "no_video_attention": ({"sparse_order": ["ca", "sa", "ffn"]}, (59.68, 29.09, 43.58, 70.39), "Tab. 7 w/o RDSA"),
    "unshared_levels": ({"shared_levels": False}, (71.23, 54.1, 43.82, 70.45), "Tab. J unshared"),
    "no_actionness": ({"actionness": False}, (73.1, 55.6, 43.29, 71.00), "Tab. E w/o L_act"),
    "dense_alone": ({"loss_mr": 0.0}, None, "no paper row (MR untrained: its MR is chance)"),
    "table_a_schedule": ({"train": "table_a"}, None, "no paper row (Table A's step decay, scaled)"),
    "all_levels": ({"levels": None}, None, "no paper row (levels 0, 1, 2 of the synthetic data)"),
}
PAPER_UNIVTG = (59.74, 36.13, 38.80, 61.8)  # Tab. 1 val, UniVTG (CLIP+SlowFast features)
UNIVTG_RUNS = {
    "univtg_demo": {},  # configs/univtg_demo.yaml as it is (D 128, 4 layers, lr 3e-4)
    "univtg_d64_lr3e-3": {"model": SHAPE, "lr": REFERENCE_LR},  # student_vs_nonspiking's reference
}
OUT = WORK / NAME


def say(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def table_a_train(epochs: int, steps_per_epoch: int) -> dict[str, Any]:
    """Table A's schedule at ``epochs`` of ``steps_per_epoch``: warm-up over 15% of the steps (2000 of
    QVHighlights' 60 x ~219), then x0.1 every third of the run (every 20 of 60 epochs)."""
    return {
        "schedule": "step",
        "warmup_steps": max(1, round(0.15 * epochs * steps_per_epoch)),
        "lr_decay_epochs": max(1, epochs // 3),
        "lr_decay_factor": 0.1,
    }


def sdst_config(switches: dict[str, Any], epochs: int, steps_per_epoch: int) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "configs" / "sdst_demo.yaml").read_text())
    config["model"].update({key: value for key, value in switches.items() if key != "train"})
    config["train"].update({"epochs": epochs, "batch_size": BATCH_SIZE, "seed": SEED})
    if switches.get("train") == "table_a":
        config["train"].update(table_a_train(epochs, steps_per_epoch))
    return config


def univtg_config(changes: dict[str, Any], epochs: int) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "configs" / "univtg_demo.yaml").read_text())
    config["model"].update(changes.get("model", {}))
    config["train"].update({"epochs": epochs, "batch_size": BATCH_SIZE, "seed": SEED})
    if "lr" in changes:
        config["train"]["lr"] = changes["lr"]
    return config


def train(name: str, config: dict[str, Any], data: Path) -> Path:
    """``vtg train`` with ``config`` (skipped when its last checkpoint is there for the same config)."""
    return train_once(config, OUT / f"{name}.yaml", OUT / name, data, say, name)


def learning_curve(checkpoint: Path) -> list[dict[str, float]]:
    """Per epoch: the val metrics of :data:`METRICS` that ``vtg train`` wrote to metrics.json."""
    epochs = json.loads((checkpoint.parent / "metrics.json").read_text()).get("epochs", [])
    return [{"epoch": e["epoch"], **{m: e[m] for m in METRICS if m in e}} for e in epochs]


def ranking_diagnosis(checkpoint: Path, data: Path) -> dict[str, float]:
    """R1@0.5 on val when the first window is the query ranked first by C = sqrt(p a) (Eq. 23), by p, by the
    actionness a, and by its IoU with the ground truth (an oracle: what the localisation alone allows)."""
    from sdst_teacher.sdst.criterion import normalised_targets
    from sdst_teacher.sdst.segments import cw_to_se
    from vtg.evaluation import open_checkpoint
    from vtg.postprocess.iou import temporal_iou

    opened = open_checkpoint(checkpoint, data, "val")
    model = opened.model.eval()
    hits: dict[str, list[bool]] = {"confidence": [], "p": [], "actionness": [], "oracle": []}
    with torch.no_grad():
        for batch in opened.loader(BATCH_SIZE):
            outputs = model(batch)
            p = outputs["pred_logits"].sigmoid()  # (B, M)
            actionness = outputs.get("pred_actionness", p)  # (B, M); p when the model has no head
            for b, target in enumerate(normalised_targets(batch)):
                iou = temporal_iou(cw_to_se(outputs["pred_spans"][b]), cw_to_se(target)).max(dim=1).values  # (M,)
                for key, score in (("confidence", (p[b] * actionness[b]).sqrt()), ("p", p[b]),
                                   ("actionness", actionness[b]), ("oracle", iou)):  # fmt: skip
                    hits[key].append(bool(iou[score.argmax()] >= 0.5))
    return {f"R1@0.5 by {key}": 100.0 * statistics.fmean(values) for key, values in hits.items()}


def directions(measured: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per variant with a paper row and metric: the paper's and the measured change against the full model,
    and whether they go the same way (a change under 0.5 points counts as no change)."""
    out: dict[str, dict[str, Any]] = {}
    for name, (_, paper, _) in VARIANTS.items():
        if paper is None or name == "sdst":
            continue
        out[name] = {}
        for index, metric in enumerate(METRICS):
            paper_delta = paper[index] - VARIANTS["sdst"][1][index]
            delta = measured[name][metric] - measured["sdst"][metric]
            sign = lambda x: 0 if abs(x) < 0.5 else (1 if x > 0 else -1)  # noqa: E731
            out[name][metric] = {
                "paper": paper_delta,
                "measured": delta,
                "same_direction": sign(paper_delta) == sign(delta),
            }
    return out


def run(quick: bool = False) -> dict[str, Any]:
    data = seed_data(SEED)
    train_queries = sum(1 for line in (data / "train.jsonl").read_text().splitlines() if line.strip())
    steps_per_epoch = -(-train_queries // BATCH_SIZE)  # ceil: the last batch is kept
    epochs = QUICK_EPOCHS if quick else EPOCHS
    univtg_epochs = QUICK_EPOCHS if quick else UNIVTG_EPOCHS
    runs: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, Any]] = {}
    for name, changes in UNIVTG_RUNS.items():
        configs[name] = univtg_config(changes, univtg_epochs)
        checkpoint = train(name, configs[name], data)
        runs[name] = {"metrics": score(checkpoint, data), "curve": learning_curve(checkpoint)}
    for name, (switches, _, _) in VARIANTS.items():
        configs[name] = sdst_config(switches, epochs, steps_per_epoch)
        checkpoint = train(name, configs[name], data)
        runs[name] = {"metrics": score(checkpoint, data), "curve": learning_curve(checkpoint),
                      "ranking": ranking_diagnosis(checkpoint, data)}  # fmt: skip
        say(f"{name}: " + ", ".join(f"{m} {runs[name]['metrics'][m]:.1f}" for m in METRICS))
    measured = {name: {m: r["metrics"][m] for m in METRICS} for name, r in runs.items()}
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "method": (
            f"demo data seed {SEED} (800 train, 200 val), training seed {SEED}, batch {BATCH_SIZE}; SDST "
            f"(configs/sdst_demo.yaml, one switch each) {epochs} epochs with the preset's train section "
            f"(table_a_schedule: {table_a_train(epochs, steps_per_epoch)}); UniVTG-style {univtg_epochs} epochs; "
            "every model scored from its last checkpoint on val"
        ),
        "configs": configs,
        "paper": {name: dict(zip(METRICS, row)) for name, (_, row, _) in VARIANTS.items() if row is not None},
        "paper_univtg": dict(zip(METRICS, PAPER_UNIVTG)),
        "runs": runs,
        "directions": directions(measured),
    }
    write_report(NAME, result, markdown)
    return result


def score(checkpoint: Path, data: Path) -> dict[str, float]:
    """``vtg predict`` on the val split: the official metrics."""
    command = [tool("vtg"), "predict", "--checkpoint", str(checkpoint), "--data", str(data), "--split", "val",
               "--out", str(checkpoint.parent / "val.jsonl"), "--json"]  # fmt: skip
    return run_json(command, log=checkpoint.parent / "predict.log")["metrics"]


def markdown(result: dict[str, Any]) -> str:
    """The README's tables: every run beside the paper's row, the directions, the ranking diagnosis."""
    runs = result["runs"]
    cells = lambda values: " | ".join(f"{v:.1f}" for v in values)  # noqa: E731
    header = " | ".join(METRICS)
    lines = [
        f"{result['method']}.",
        "",
        f"| run | measured: {header} | paper (QVHighlights val): {header} | paper's row |",
        "|---|" + "---:|" * (2 * len(METRICS)) + "---|",
    ]
    for name in UNIVTG_RUNS:
        measured = cells(runs[name]["metrics"][m] for m in METRICS)
        lines.append(f"| {name} | {measured} | {cells(result['paper_univtg'][m] for m in METRICS)} | Tab. 1 UniVTG |")
    for name, (_, row, where) in VARIANTS.items():
        measured = cells(runs[name]["metrics"][m] for m in METRICS)
        theirs = cells(row) if row is not None else " | ".join("-" for _ in METRICS)
        lines.append(f"| {name} | {measured} | {theirs} | {where} |")
    lines += [
        "",
        "Change against the full SDST, paper / measured (same direction: yes or no; < 0.5 points is no change):",
        "",
    ]
    lines += [f"| switch | {header} |", "|---|" + "---:|" * len(METRICS)]
    for name, by_metric in result["directions"].items():
        row = [
            f"{d['paper']:+.1f} / {d['measured']:+.1f} ({'yes' if d['same_direction'] else 'no'})"
            for d in by_metric.values()
        ]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    keys = ("confidence", "p", "actionness", "oracle")
    lines += ["", "Ranking diagnosis (val R1@0.5 of the query ranked first by each score; oracle: the best query):", ""]
    lines += ["| run | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name in VARIANTS:
        lines.append(f"| {name} | " + cells(runs[name]["ranking"][f"R1@0.5 by {k}"] for k in keys) + " |")
    curve = runs["sdst"]["curve"]
    lines += ["", "SDST's learning curve (val, per epoch): " + ", ".join(
        f"{c['epoch']}: {c.get(METRICS[0], float('nan')):.1f} / {c.get(METRICS[1], float('nan')):.1f}" for c in curve
    ) + f" ({METRICS[0]} / {METRICS[1]})."]  # fmt: skip
    return "\n".join(lines) + "\n"


def headline(result: dict[str, Any]) -> dict[str, Any]:
    return {name: result["runs"][name]["metrics"][METRICS[0]] for name in result["runs"]}


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, f"{QUICK_EPOCHS} epochs per run (a smoke run)", run, headline)


if __name__ == "__main__":
    sys.exit(main())
