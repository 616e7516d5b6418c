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


def ranking_ap(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AP of one ranking, ``scores`` (n,), for each column of ``labels`` (n, c) in {0, 1}: (c,); n >= 1.

    Several label columns (annotators, thresholds) share one sort of the scores.
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    # last rank of each run of equal scores: the K thresholds
    level_end = np.append(np.flatnonzero(np.diff(scores[order]) != 0), len(scores) - 1)  # (K,)
    hits = np.cumsum(labels[order], axis=0)[level_end]  # (K, c)
    positives = labels.sum(axis=0)  # (c,)
    precision = hits / (level_end + 1)[:, None]  # (K, c)
    recall = hits / np.maximum(positives, 1)  # (K, c); a column without positives scores 0 below
    interpolated = np.maximum.accumulate(precision[::-1], axis=0)[::-1]  # (K, c)
    gained = recall > np.vstack([np.zeros((1, recall.shape[1])), recall[:-1]])  # (K, c)
    # mean over the levels that gain recall; with all labels 1 every precision is 1 (AP 1), with all
    # labels 0 no level gains recall (AP 0), the official special cases
    return (interpolated * gained).sum(axis=0) / np.maximum(gained.sum(axis=0), 1)
