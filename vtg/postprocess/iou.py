"""Temporal IoU of 1-D windows.

For windows a = [s1, e1] and b = [s2, e2]::

    IoU(a, b) = max(0, min(e1, e2) - max(s1, s2)) / (max(e1, e2) - min(s1, s2))

(the union of two overlapping windows is their hull; for disjoint ones the intersection is 0 anyway).
Written here rather than borrowed from ``torchvision.ops.box_iou`` on windows lifted to unit-height
boxes: torchvision is not a declared dependency of this project, soft-NMS needs the IoU itself, and the
1-D formula is three lines.
"""

from __future__ import annotations

import torch


def temporal_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) IoU between windows ``a`` (N, 2) and ``b`` (M, 2), each row [start, end]."""
    start = torch.maximum(a[:, None, 0], b[None, :, 0])  # (N, M)
    end = torch.minimum(a[:, None, 1], b[None, :, 1])  # (N, M)
    intersection = (end - start).clamp(min=0)
    hull = torch.maximum(a[:, None, 1], b[None, :, 1]) - torch.minimum(a[:, None, 0], b[None, :, 0])  # (N, M)
    return intersection / hull.clamp(min=torch.finfo(hull.dtype).tiny)
