"""From SpikingVTG's clip-wise outputs to the official predictions (paper Sec. 3).

For real clip i of a video, with f_i = sigmoid of the foreground logit, (ds_i, de_i) the boundary
offsets in clip units and s_i the min-max normalised SFG score at equilibrium
(``outputs["saliency_gate"]``, in [0, 1] like f_i)::

    MR: windows [t_i - ds_i, t_i + de_i] (seconds, clipped to the video) scored by f_i,
        1-D NMS at IoU ``nms_threshold`` (0.7 in the paper), at most ``max_windows`` kept
    HD: pred_saliency_scores_i = f_i + s_i

The windows, NMS and prediction lines are the shared ones of ``vtg.postprocess``.
"""

from __future__ import annotations

from typing import Any

from vtg.postprocess.predictions import batch_predictions


def predictions(
    batch: dict[str, Any], outputs: dict[str, Any], nms_threshold: float, max_windows: int
) -> list[dict[str, Any]]:
    """One official prediction dict per query of the batch (docs/ARCHITECTURE.md, "Predictions")."""
    foreground = outputs["foreground_logits"].detach().float().sigmoid()  # (B, Lv)
    highlight = foreground + outputs["saliency_gate"].detach().float()  # (B, Lv) f + s
    return batch_predictions(batch, foreground, outputs["boundary"], highlight, nms_threshold, max_windows)
