"""Average precision of ranked windows against ground-truth windows (one query, several IoU thresholds).

This is the ActivityNet/VOC detection AP that the official QVHighlights evaluator applies per query:

1. predictions are sorted by decreasing score (a stable sort: tied scores keep their submitted order);
2. at threshold theta, each prediction in turn is a true positive if some still unmatched GT window has
   IoU >= theta with it: the GT windows are tried from the highest IoU down, a GT window already
   matched is skipped, and the first one below theta ends the search (so a duplicate of a matched
   prediction becomes a false positive);
3. with precision p_k = TP_k / k and recall r_k = TP_k / G after the k-th prediction (G GT windows),
   AP = sum over true positives k of (1 / G) * max_{j >= k} p_j, i.e. the area under the precision
   envelope (VOC 2011 interpolation), where recall that is never reached contributes 0.
"""

from __future__ import annotations

import numpy as np

from vtg.metrics.iou import iou_cross


def detection_ap(pred_windows: np.ndarray, gt_windows: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """AP at each IoU threshold for predictions (n, 3) ``[st, ed, score]`` and GT windows (m, 2): (len(thresholds),)."""
    order = np.argsort(-pred_windows[:, 2], kind="stable")
    iou = iou_cross(pred_windows[order, :2], gt_windows)  # (n, m)
    # Ties in IoU are tried in the reverse of numpy's ascending argsort, as the official evaluator does.
    gt_order = np.argsort(iou, axis=1)[:, ::-1]  # (n, m)
    n, m = iou.shape
    ap = np.zeros(len(thresholds))
    for t, theta in enumerate(thresholds):
        matched = np.zeros(m, dtype=bool)
        true_positive = np.zeros(n, dtype=bool)
        for k in range(n):
            for g in gt_order[k]:
                if iou[k, g] < theta:
                    break
                if not matched[g]:
                    matched[g] = true_positive[k] = True
                    break
        precision = np.cumsum(true_positive) / np.arange(1, n + 1)  # (n,)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]  # max precision at this or higher recall
        ap[t] = envelope[true_positive].sum() / m
    return ap
