"""The distillation report: teacher, CLRM-distilled student and label-only student on one split.

Every checkpoint is evaluated afresh on the same split with the same code (``load_model``, the model's
``predict``, the official metrics), so the three rows are comparable whatever the checkpoints recorded.
``comparison.json``::

    {"data": DIR, "split": "val", "budget": {"epochs": .., "batch_size": .., "lr": .., "seed": ..},
     "headline": ["MR-full-R1@0.5", ...],
     "models": {"teacher": {"checkpoint": .., "model": "univtg", "variant": null, "metrics": {...}},
                "distilled": {...}, "label_only": {...}},
     "gaps": {"distilled_minus_label_only": {metric: ..}, "teacher_minus_distilled": {metric: ..}}}

``comparison.md`` is the same as a table for a person.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vtg.engine.atomic import atomic_write_text
from vtg.engine.train_config import TrainConfig
from vtg.errors import UserError

HEADLINE = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1")


def evaluate(checkpoint: Path, data: Path, split: str, batch_size: int) -> dict[str, Any]:
    """The official metrics of ``checkpoint`` on ``split`` of ``data``, and what model it holds."""
    import torch
    from torch.utils.data import DataLoader

    from vtg.data.annotations import annotation_to_record
    from vtg.data.collate import collate
    from vtg.data.dataset import VTGDataset
    from vtg.engine.checkpoint import METADATA_KEY, check_dims, load_model
    from vtg.engine.evaluation import score_predictions
    from vtg.engine.predict_command import predict

    model, saved = load_model(checkpoint)
    metadata = saved[METADATA_KEY]
    train = metadata["train_config"]
    dataset = VTGDataset(
        data, split, max_video_len=train.get("max_video_len"), max_query_len=train.get("max_query_len")
    )
    if len(dataset) == 0:
        raise UserError(f"{dataset.config.split_path(split)}: split '{split}' has no query")
    check_dims(checkpoint, metadata["dims"], data, dataset.dims)
    predictions = predict(model, DataLoader(dataset, batch_size=batch_size, collate_fn=collate), torch.device("cpu"))
    truth = [annotation_to_record(annotation) for annotation in dataset.annotations]
    return {
        "checkpoint": str(checkpoint),
        "model": metadata["model_name"],
        "variant": metadata["model_config"].get("variant"),
        "metrics": score_predictions(predictions, truth),
    }


def compare(checkpoints: dict[str, Path], data: Path, split: str, train: TrainConfig) -> dict[str, Any]:
    """The report of ``{"teacher": .., "distilled": .., "label_only": ..}`` checkpoints (module docstring)."""
    models = {name: evaluate(path, data, split, train.batch_size) for name, path in checkpoints.items()}

    def gap(high: str, low: str) -> dict[str, float]:
        a, b = models[high]["metrics"], models[low]["metrics"]
        return {name: round(a[name] - b[name], 4) for name in HEADLINE if name in a and name in b}

    return {
        "data": str(data),
        "split": split,
        "budget": {key: getattr(train, key) for key in ("epochs", "batch_size", "lr", "seed")},
        "headline": [name for name in HEADLINE if name in models["distilled"]["metrics"]],
        "models": models,
        "gaps": {
            "distilled_minus_label_only": gap("distilled", "label_only"),
            "teacher_minus_distilled": gap("teacher", "distilled"),
        },
    }


def markdown(report: dict[str, Any]) -> str:
    """``comparison.md``: one row per model and the two gaps, headline metrics as columns."""
    names = report["headline"]
    budget = ", ".join(f"{key} {value}" for key, value in report["budget"].items())
    lines = [
        "# CLRM distillation: teacher, distilled and label-only student",
        "",
        f"Data `{report['data']}`, split `{report['split']}`; both students: {budget}.",
        "",
        "| model | checkpoint | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for role, entry in report["models"].items():
        label = entry["model"] + (f" ({entry['variant']})" if entry["variant"] else "")
        values = " | ".join(f"{entry['metrics'].get(name, float('nan')):.2f}" for name in names)
        lines.append(f"| {role}: {label} | `{entry['checkpoint']}` | {values} |")
    for gap, values in report["gaps"].items():
        row = " | ".join(f"{values.get(name, float('nan')):+.2f}" for name in names)
        lines.append(f"| {gap.replace('_', ' ')} | | {row} |")
    return "\n".join(lines) + "\n"


def write_comparison(report: dict[str, Any], out: Path) -> dict[str, str]:
    """Write ``out/comparison.json`` and ``out/comparison.md``; return their paths."""
    paths = {"json": out / "comparison.json", "markdown": out / "comparison.md"}
    atomic_write_text(paths["json"], json.dumps(report, indent=2) + "\n")
    atomic_write_text(paths["markdown"], markdown(report))
    return {kind: str(path) for kind, path in paths.items()}
