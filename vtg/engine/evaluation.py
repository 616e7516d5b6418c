"""Scoring predictions with the official metrics, and gathering them from every process under DDP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.distributed as dist


def gather_predictions(predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every process's predictions, on every process, once per query.

    Under DDP each process scored a shard of the split, and ``DistributedSampler`` pads the last shard
    with repeated queries so that all shards have the same size: the repeats are dropped by ``qid``.
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        shards: list[list[dict[str, Any]] | None] = [None] * dist.get_world_size()
        dist.all_gather_object(shards, predictions)
        predictions = [prediction for shard in shards for prediction in shard or []]
    unique: dict[Any, dict[str, Any]] = {}
    for prediction in predictions:
        unique.setdefault(prediction["qid"], prediction)
    return list(unique.values())


def score_predictions(predictions: Sequence[dict], ground_truth: Sequence[dict]) -> dict[str, float]:
    """The official headline metrics (``MR-full-mAP``, ``HL-min-VeryGood-Hit1``, ...) of ``predictions``.

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
    metrics = dict(evaluate_qvhighlights(submission, truths)["brief"])
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
    return list(score_predictions([prediction], [truth]))
