"""Evaluating a checkpoint: the one path from a checkpoint file to its official metrics on a split.

:func:`evaluate_checkpoint` is what ``vtg predict``, ``vtg distill --compare`` and the other readers of a
checkpoint's quality run:

1. :func:`open_checkpoint`: load the model (:func:`vtg.checkpoint.load_model`) and open the split with the
   limits the model was trained with (``train.max_video_len``, ``train.max_query_len``: positions beyond
   them may be unknown to it), refuse a split without queries (:func:`nonempty`) or of other feature dims;
2. set the inference timesteps Tc of a spiking model (:func:`set_timesteps`);
3. ``model.predict`` over every batch (:func:`predict`);
4. score with the official metrics (:func:`score_predictions`) when every query has relevant windows.

``vtg energy report`` runs steps 2 and 3 inside its energy sweep (one pass gives predictions and spike
counts), on the split of step 1, and scores with step 4, so its metrics at a Tc are ``vtg predict``'s.
This module imports neither Lightning nor the training engine.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from vtg.checkpoint import METADATA_KEY, check_dims, load_model
from vtg.data.annotations import annotation_to_record
from vtg.data.collate import collate, move_batch
from vtg.data.dataset import VTGDataset
from vtg.errors import UserError

DEFAULT_BATCH_SIZE = 32  # when neither the caller nor the checkpoint's train: section gives one


def nonempty(dataset: VTGDataset) -> VTGDataset:
    """``dataset``, or a :class:`UserError` naming its split file when it has no query."""
    if len(dataset) == 0:
        raise UserError(f"{dataset.config.split_path(dataset.split)}: split '{dataset.split}' has no query")
    return dataset


def score_predictions(predictions: Sequence[dict], ground_truth: Sequence[dict], clip_len: float) -> dict[str, float]:
    """The official headline metrics (``MR-full-mAP``, ``HL-min-VeryGood-Hit1``, ...) of ``predictions``;
    ``clip_len``: the dataset's clip length in seconds (``dataset.yaml``), which the saliency clip ids count in.

    Only the queries that were predicted are scored (a run limited to some validation batches still gets
    metrics). Highlight detection is scored only when every scored query has saliency annotations
    (Charades-STA and TACoS have none); Charades-STA's and TACoS's R1@{0.3,0.5,0.7} and mIoU are added to
    the QVHighlights moment-retrieval metrics.
    """
    from vtg.metrics import evaluate_qvhighlights, evaluate_r1_miou

    predicted = {prediction["qid"] for prediction in predictions}
    truths = [record for record in ground_truth if record["qid"] in predicted]
    with_saliency = all(record.get("saliency_scores") is not None for record in truths)
    submission = [
        {key: value for key, value in prediction.items() if with_saliency or key != "pred_saliency_scores"}
        for prediction in predictions
    ]
    metrics = dict(evaluate_qvhighlights(submission, truths, clip_len=clip_len)["brief"])
    metrics.update(evaluate_r1_miou(submission, truths)["brief"])
    return {name: float(value) for name, value in metrics.items()}


def metric_names() -> list[str]:
    """Every metric :func:`score_predictions` can report (what ``train.monitor`` may name, besides val/<loss>).

    Read off the evaluators themselves, scoring one made-up query with windows and saliency, so that the list
    cannot drift from what they compute.
    """
    truth = {
        "qid": 0,
        "duration": 10.0,
        "relevant_windows": [[0.0, 4.0]],
        "relevant_clip_ids": [0, 1],
        "saliency_scores": [[1, 2, 3], [4, 4, 4]],
    }
    prediction = {"qid": 0, "pred_relevant_windows": [[0.0, 4.0, 1.0]], "pred_saliency_scores": [1.0] * 5}
    return list(score_predictions([prediction], [truth], clip_len=2.0))


def set_timesteps(model: torch.nn.Module, model_name: str, tc: int | None) -> None:
    """Set a spiking model's inference timesteps Tc (its ``inference_tc``, the commands' ``--tc``); None
    keeps the model's own; any other model has no timesteps to set."""
    if tc is None:
        return
    if not hasattr(model, "inference_tc"):
        raise UserError(f"option --tc: model '{model_name}' is not spiking (it has no inference timesteps)")
    if tc < 1:
        raise UserError(f"option --tc: expected at least 1 timestep, got {tc}")
    model.inference_tc = tc


def predict(model: torch.nn.Module, loader: DataLoader, device: torch.device | str = "cpu") -> list[dict[str, Any]]:
    """``model.predict`` over every batch of ``loader`` on ``device``, with a progress bar on stderr."""
    from tqdm import tqdm

    predictions: list[dict[str, Any]] = []
    with torch.no_grad():
        for batch in tqdm(loader, desc="predict", unit="batch", file=sys.stderr):
            batch = move_batch(batch, device)
            predictions.extend(model.predict(batch, model(batch)))
    return predictions


@dataclasses.dataclass
class CheckpointSplit:
    """A checkpoint's model (eval mode, CPU) and the first ``queries`` queries of the split it is judged on."""

    checkpoint: Path
    model: torch.nn.Module
    metadata: dict[str, Any]  # the checkpoint's ``vtg`` entry (vtg.checkpoint)
    dataset: VTGDataset  # opened with the checkpoint's max_video_len and max_query_len
    queries: int

    @property
    def model_name(self) -> str:
        return self.metadata["model_name"]

    def loader(self, batch_size: int | None = None) -> DataLoader:
        """The queries in file order, ``batch_size`` at a time (default: the training batch size)."""
        size = batch_size or self.metadata["train_config"].get("batch_size", DEFAULT_BATCH_SIZE)
        queries = self.dataset if self.queries == len(self.dataset) else Subset(self.dataset, range(self.queries))
        return DataLoader(queries, batch_size=size, shuffle=False, collate_fn=collate)

    @cached_property
    def ground_truth(self) -> list[dict[str, Any]] | None:
        """The queries' annotation records as the metrics read them; None when one has no relevant window
        (a test split without labels: predictions only)."""
        annotations = self.dataset.annotations[: self.queries]
        if not all(annotation.windows for annotation in annotations):
            return None
        return [annotation_to_record(annotation) for annotation in annotations]

    def score(self, predictions: Sequence[dict[str, Any]]) -> dict[str, float] | None:
        """The official metrics of ``predictions`` of these queries; None without labels."""
        if self.ground_truth is None:
            return None
        return score_predictions(predictions, self.ground_truth, self.dataset.config.clip_len)


def open_checkpoint(
    checkpoint: str | Path, data: str | Path, split: str, require_labels: bool = True, limit: int | None = None
) -> CheckpointSplit:
    """Load ``checkpoint`` and open ``split`` of dataset folder ``data`` with the checkpoint's limits.

    A split without queries, or with feature dims other than the checkpoint's, is a :class:`UserError`.
    ``require_labels``: every annotation line must have relevant windows. ``limit``: only the split's
    first ``limit`` queries (at least 1; the callers check their option).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    checkpoint = Path(checkpoint)
    model, saved = load_model(checkpoint)
    metadata = saved[METADATA_KEY]
    train = metadata["train_config"]
    # the lengths the model was trained on (positions beyond them may be unknown to it)
    dataset = VTGDataset(
        data,
        split,
        max_video_len=train.get("max_video_len"),
        max_query_len=train.get("max_query_len"),
        require_labels=require_labels,
    )
    nonempty(dataset)
    check_dims(checkpoint, metadata["dims"], data, dataset.dims)
    queries = len(dataset) if limit is None else min(limit, len(dataset))
    return CheckpointSplit(checkpoint, model, metadata, dataset, queries)


@dataclasses.dataclass
class Evaluation:
    """What :func:`evaluate_checkpoint` found: the opened checkpoint and split, the predictions (official
    format, split order), the Tc a spiking model ran (None for others) and the metrics (None without labels),
    scored when first read: a caller can write the predictions before a scoring error could lose them."""

    opened: CheckpointSplit
    predictions: list[dict[str, Any]]
    tc: int | None

    @cached_property
    def metrics(self) -> dict[str, float] | None:
        return self.opened.score(self.predictions)


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | Path,
    split: str = "val",
    tc: int | None = None,
    batch_size: int | None = None,
    device: torch.device | str = "cpu",
    require_labels: bool = True,
    limit: int | None = None,
) -> Evaluation:
    """Predict ``split`` of ``data`` with ``checkpoint``'s model at ``tc`` timesteps (a spiking model; None:
    its own ``inference_tc``) and score the predictions (module docstring)."""
    opened = open_checkpoint(checkpoint, data, split, require_labels=require_labels, limit=limit)
    model = opened.model
    set_timesteps(model, opened.model_name, tc)
    model.to(device)
    predictions = predict(model, opened.loader(batch_size), device)
    return Evaluation(opened, predictions, getattr(model, "inference_tc", None))
