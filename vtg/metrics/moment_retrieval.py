"""QVHighlights moment retrieval: R1 and mAP over IoU thresholds, on all queries and by GT window length.

Definitions (those of the official ``standalone_eval/eval.py``):

- thresholds theta in {0.5, 0.55, ..., 0.95}, reported under the keys ``"0.5"``, ``"0.55"``, ...;
- **R1@theta**: the top-1 prediction is the *first listed* window; it is compared with the GT window of
  highest IoU with it (the first such one on ties), and R1@theta is the percentage of queries where
  that IoU >= theta;
- **mAP@theta**: the first ``MAX_PREDICTIONS`` = 10 listed windows of each query are ranked by score and
  scored by :func:`vtg.metrics.detection_ap.detection_ap` against all of the query's GT windows; the
  mean over queries is mAP@theta and ``"average"`` is the mean over the ten thresholds;
- **splits** by GT window length l: short 0 < l <= 10 s, middle 10 < l <= 30 s, long 30 < l <= 150 s.
  A query belongs to a split when at least one of its GT windows does, and is then scored against those
  windows only (with all of its predictions); "full" keeps every query and window. A split without
  queries scores NaN (where the official evaluator stops with an error).

Every number is a percentage rounded to two decimals (:func:`vtg.metrics.percent.percent`).
"""

from __future__ import annotations

import numpy as np

from vtg.metrics.detection_ap import detection_ap
from vtg.metrics.iou import iou_cross, iou_paired
from vtg.metrics.percent import percent
from vtg.metrics.records import Prediction, Truth

IOU_THRESHOLDS = [round(0.5 + 0.05 * i, 2) for i in range(10)]
MAX_PREDICTIONS = 10
LENGTH_SPLITS = {"short": (0.0, 10.0), "middle": (10.0, 30.0), "long": (30.0, 150.0)}


def top1_iou(pred_windows: np.ndarray, gt_windows: np.ndarray) -> float:
    """IoU of the first listed prediction (n, 3) with the GT window (m, 2) that overlaps it most."""
    top = pred_windows[:1, :2]  # (1, 2)
    nearest = int(np.argmax(iou_cross(top, gt_windows)[0]))
    return float(iou_paired(top, gt_windows[nearest : nearest + 1])[0])


def retrieval_scores(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """``{"MR-mAP": {theta: .., "average": ..}, "MR-R1": {theta: ..}}`` for (pred windows, GT windows) pairs."""
    keys = [str(theta) for theta in IOU_THRESHOLDS]
    if not pairs:
        nan = float("nan")
        return {"MR-mAP": dict.fromkeys([*keys, "average"], nan), "MR-R1": dict.fromkeys(keys, nan)}
    ap = np.array([detection_ap(pred[:MAX_PREDICTIONS], gt, IOU_THRESHOLDS) for pred, gt in pairs])  # (Q, 10)
    map_by_threshold = ap.mean(axis=0)  # (10,)
    ious = np.array([top1_iou(pred, gt) for pred, gt in pairs])  # (Q,)
    mean_ap = {key: percent(value) for key, value in zip(keys, map_by_threshold)}
    mean_ap["average"] = percent(map_by_threshold.mean())
    recall = {key: percent(np.mean(ious >= theta)) for key, theta in zip(keys, IOU_THRESHOLDS)}
    return {"MR-mAP": mean_ap, "MR-R1": recall}


def windows_in_split(gt_windows: np.ndarray, low: float, high: float) -> np.ndarray:
    """The GT windows (m, 2) whose length l satisfies low < l <= high."""
    lengths = gt_windows[:, 1] - gt_windows[:, 0]
    return gt_windows[(lengths > low) & (lengths <= high)]


def evaluate_moment_retrieval(
    predictions: dict[int | str, Prediction], truths: dict[int | str, Truth]
) -> dict[str, dict[str, dict[str, float]]]:
    """Scores of every split: ``{"short": .., "middle": .., "long": .., "full": ..}``."""
    results = {}
    for split, (low, high) in LENGTH_SPLITS.items():
        pairs = []
        for qid, truth in truths.items():
            kept = windows_in_split(truth.windows, low, high)
            if len(kept):
                pairs.append((predictions[qid].windows, kept))
        results[split] = retrieval_scores(pairs)
    results["full"] = retrieval_scores([(predictions[qid].windows, truth.windows) for qid, truth in truths.items()])
    return results
