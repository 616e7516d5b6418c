"""Charades-STA and TACoS moment retrieval: R1 at IoU 0.3, 0.5, 0.7 and mean IoU of the top-1 window.

For each query, the top-1 prediction is the first listed window (predictions are listed by decreasing
score) and its IoU is taken with the GT window that overlaps it most (these datasets have one GT window
per query; several are allowed, as in QVHighlights' R1). Over the Q queries,

    MR-R1@theta = 100 * #{q : IoU_q >= theta} / Q,        MR-mIoU = 100 * mean_q IoU_q,

rounded to two decimals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vtg.metrics.jsonl import origin
from vtg.metrics.moment_retrieval import top1_iou
from vtg.metrics.percent import percent
from vtg.metrics.records import WINDOW_TOLERANCE_S, parse_ground_truth, parse_predictions

R1_THRESHOLDS = (0.3, 0.5, 0.7)


def evaluate_r1_miou(
    submission: Sequence[dict], ground_truth: Sequence[dict], *, window_tolerance: float = WINDOW_TOLERANCE_S
) -> dict:
    """``{"brief": {"MR-R1@0.3": .., "MR-R1@0.5": .., "MR-R1@0.7": .., "MR-mIoU": ..}}``."""
    truths = parse_ground_truth(ground_truth, windows=True, saliency=False, tolerance=window_tolerance)
    predictions = parse_predictions(
        submission,
        truths,
        windows=True,
        saliency=False,
        tolerance=window_tolerance,
        gt_name=origin(ground_truth, "ground truth"),
    )
    ious = np.array([top1_iou(predictions[qid].windows, truth.windows) for qid, truth in truths.items()])  # (Q,)
    brief = {f"MR-R1@{theta}": percent(np.mean(ious >= theta)) for theta in R1_THRESHOLDS}
    brief["MR-mIoU"] = percent(ious.mean())
    return {"brief": brief}
