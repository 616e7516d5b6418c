"""Clip-wise outputs (f, d, s) to official prediction dicts (SpikingVTG paper, Sec. 3).

For real clip i with centre t_i = (i + 0.5) clip_len seconds::

    window_i = [t_i - ds_i clip_len, t_i + de_i clip_len] clipped to [0, duration],  score_i = sigmoid(f_i)
    MR: windows sorted by score, 1-D NMS at IoU ``nms_threshold``, at most ``max_windows`` kept
    HD: pred_saliency_scores_i = sigmoid(f_i) + s_i

1-D NMS runs on torchvision's box NMS with every window given the same unit height, which makes the
box IoU equal to the temporal IoU.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.ops import nms


def temporal_nms(windows: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of the windows (N, 2) kept by NMS at IoU ``threshold``, by decreasing score."""
    boxes = torch.stack(
        [windows[:, 0], torch.zeros_like(scores), windows[:, 1], torch.ones_like(scores)], dim=1
    )  # (N, 4) as (x1, y1, x2, y2)
    return nms(boxes.float(), scores.float(), threshold)


def clip_predictions(
    batch: dict[str, Any], outputs: dict[str, Any], nms_threshold: float, max_windows: int
) -> list[dict[str, Any]]:
    """One prediction dict per query of the batch (ARCHITECTURE.md, "Predictions")."""
    scores = outputs["foreground_logits"].sigmoid()  # (B, Lv)
    highlight = scores + outputs["saliency"]  # (B, Lv)
    predictions = []
    for b, meta in enumerate(batch["meta"]):
        n = int(batch["video_mask"][b].sum())
        clip_len, duration = float(meta["clip_len"]), float(meta["duration"])
        centres = torch.arange(n, dtype=torch.float32) + 0.5  # (n,) in clip units
        offsets = outputs["boundary"][b, :n].float().cpu()  # (n, 2)
        windows = torch.stack([centres - offsets[:, 0], centres + offsets[:, 1]], dim=1) * clip_len  # (n, 2) s
        windows = windows.clamp(0.0, duration)
        clip_scores = scores[b, :n].float().cpu()  # (n,)
        keep = temporal_nms(windows, clip_scores, nms_threshold)[:max_windows]
        predictions.append(
            {
                "qid": meta["qid"],
                "query": meta["query"],
                "vid": meta["vid"],
                "pred_relevant_windows": [
                    [float(windows[i, 0]), float(windows[i, 1]), float(clip_scores[i])] for i in keep.tolist()
                ],
                "pred_saliency_scores": highlight[b, :n].float().cpu().tolist(),
            }
        )
    return predictions
