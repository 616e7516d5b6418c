"""Greedy non-maximum suppression of 1-D windows.

Take the best-scoring window, drop every other window whose temporal IoU with it exceeds the threshold,
repeat with the best of the rest. Moment retrieval keeps the survivors in score order.
"""

from __future__ import annotations

import torch

from vtg.postprocess.iou import temporal_iou


def nms_1d(
    windows: torch.Tensor, scores: torch.Tensor, iou_threshold: float = 0.7, max_windows: int | None = None
) -> torch.Tensor:
    """Indices of the kept windows (N, 2) in decreasing score order, at most ``max_windows``."""
    order = torch.argsort(scores, descending=True, stable=True)  # (N,)
    iou = temporal_iou(windows[order], windows[order])  # (N, N) in score order
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    kept = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        kept.append(i)
        if max_windows is not None and len(kept) == max_windows:
            break
        suppressed |= iou[i] > iou_threshold
    return order[torch.tensor(kept, dtype=torch.long)]
