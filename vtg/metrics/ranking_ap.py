"""Average precision of a clip ranking against binary labels, as QVHighlights highlight detection defines it.

Let the distinct predicted scores be s_1 > s_2 > ... > s_K and, when every clip scoring >= s_k is
called positive, let P_k and R_k be the precision and recall (R_0 = 0). With the interpolated precision
P^_k = max_{j >= k} P_j (the best precision at this recall or higher),

    AP = mean of P^_k over the levels k where R_k > R_{k-1}.

Tied scores form one level, so a tie that uncovers several positives at once counts once, and the mean is
over recall *levels*, not weighted by the recall gained. If every label is 0 the AP is 0, if every label
is 1 it is 1. This equals ``get_ap`` (interpolate=True) of the official ``standalone_eval/utils.py``
(the ranking AP of video2gif).
"""

from __future__ import annotations

import numpy as np


def ranking_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """AP of ``scores`` (n,) ranking the positives of ``labels`` (n,) in {0, 1}; n >= 1."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return float(labels[0])
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    ranked_scores, ranked_labels = np.asarray(scores, dtype=float)[order], labels[order]
    # last rank of each run of equal scores: the K thresholds
    level_end = np.append(np.flatnonzero(np.diff(ranked_scores) != 0), len(ranked_scores) - 1)  # (K,)
    hits = np.cumsum(ranked_labels)[level_end]  # (K,)
    precision = hits / (level_end + 1)
    recall = hits / labels.sum()
    interpolated = np.maximum.accumulate(precision[::-1])[::-1]
    gained = recall > np.append(0.0, recall[:-1])
    return float(interpolated[gained].mean())
