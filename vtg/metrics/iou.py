"""Temporal intersection over union of windows ``[st, ed]`` (seconds).

For windows a and b, inter = max(0, min(a_ed, b_ed) - max(a_st, b_st)) and

    IoU(a, b) = inter / (len(a) + len(b) - inter)                      (iou_cross)
    IoU(a, b) = inter / (max(a_ed, b_ed) - min(a_st, b_st))            (iou_paired)

The two agree whenever the windows overlap (the hull is then the union) and both give 0 otherwise; the
official QVHighlights evaluator uses the first for AP matching and for choosing the GT window nearest to
the top-1 prediction, and the second for the R1 IoU itself, so both are kept to reproduce its numbers
bit for bit. A zero denominator (two empty windows) gives IoU 0.
"""

from __future__ import annotations

import numpy as np


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def iou_cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every window in ``a`` (n, 2) with every window in ``b`` (m, 2): (n, m)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter  # (n, m)
    return _divide(inter, union)


def iou_paired(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` for windows (n, 2), measured against their hull: (n,)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    inter = np.maximum(0, np.minimum(a[:, 1], b[:, 1]) - np.maximum(a[:, 0], b[:, 0]))
    hull = np.maximum(a[:, 1], b[:, 1]) - np.minimum(a[:, 0], b[:, 0])
    return _divide(inter, hull)
