"""Clip-level training targets from an annotation's windows and saliency scores.

Clip i spans [i, i + 1) in clip units (seconds / clip_len) and has its centre at t_i = i + 0.5. For a
window [st, ed] (in clip units s = st / clip_len, e = ed / clip_len):

- foreground f_i = 1 when s <= t_i <= e; a window too short to hold any centre marks the clip that
  holds its middle, so that every window has at least one positive clip;
- boundary d_i = (t_i - s, e - t_i), clamped at 0, the distances a clip-wise model regresses; where
  windows overlap, the shortest window that covers the clip is used; 0 on background;
- saliency: the mean of the annotators' 0-4 scores divided by 4 at ``relevant_clip_ids``, else 0.
"""

from __future__ import annotations

import numpy as np

from vtg.data.annotations import MAX_SALIENCY


def clip_targets(
    windows: list[tuple[float, float]],
    clip_ids: list[int],
    saliency_scores: list[list[float]] | None,
    n_clips: int,
    clip_len: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(foreground (Lv,), boundary (Lv, 2), saliency (Lv,))`` float32 for a video of ``n_clips`` clips."""
    centres = np.arange(n_clips) + 0.5  # (Lv,)
    foreground = np.zeros(n_clips, np.float32)
    boundary = np.zeros((n_clips, 2), np.float32)
    covered_length = np.full(n_clips, np.inf)  # length of the window each clip's boundary comes from
    for st, ed in windows:
        s, e = st / clip_len, ed / clip_len
        inside = (centres >= s) & (centres <= e)
        if not inside.any():
            middle = int((s + e) / 2)
            if middle >= n_clips:
                continue  # the window lies past the end of the (truncated) features
            inside[middle] = True
        chosen = inside & (e - s < covered_length)
        foreground[inside] = 1.0
        boundary[chosen, 0] = np.maximum(centres[chosen] - s, 0.0)
        boundary[chosen, 1] = np.maximum(e - centres[chosen], 0.0)
        covered_length[chosen] = e - s
    saliency = np.zeros(n_clips, np.float32)
    if saliency_scores is not None:
        for clip, scores in zip(clip_ids, saliency_scores):
            if clip < n_clips:
                saliency[clip] = float(np.mean(scores)) / MAX_SALIENCY
    return foreground, boundary, saliency
