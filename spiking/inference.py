"""From SpikingVTG's clip-wise outputs to the official predictions (paper Sec. 3).

For real clip i of a video (centre t_i = (i + 0.5) clip_len seconds), with f_i = sigmoid of the
foreground logit, (ds_i, de_i) the boundary offsets in clip units and s_i the min-max normalised SFG
score at equilibrium (``outputs["saliency_gate"]``, in [0, 1] like f_i)::

    MR: windows [t_i - ds_i clip_len, t_i + de_i clip_len] clipped to [0, duration], scored by f_i,
        1-D NMS at IoU ``nms_threshold`` (0.7 in the paper), at most ``max_windows`` kept
    HD: pred_saliency_scores_i = f_i + s_i

1-D NMS is torchvision's box NMS with every window of unit height: the box IoU is then the 1-D IoU.
(``vtg/postprocess/`` was empty when this was written; this module should move onto it once it lands.)
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.ops import nms


def nms_1d(windows: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of the windows (N, 2) kept by 1-D NMS at IoU ``threshold``, by decreasing score."""
    zeros, ones = torch.zeros_like(scores), torch.ones_like(scores)
    boxes = torch.stack([windows[:, 0], zeros, windows[:, 1], ones], dim=1)  # (N, 4) as x1, y1, x2, y2
    return nms(boxes.float(), scores.float(), threshold)


def predictions(
    batch: dict[str, Any], outputs: dict[str, Any], nms_threshold: float, max_windows: int
) -> list[dict[str, Any]]:
    """One official prediction dict per query of the batch (docs/ARCHITECTURE.md, "Predictions")."""
    foreground = outputs["foreground_logits"].detach().float().sigmoid().cpu()  # (B, Lv)
    highlight = foreground + outputs["saliency_gate"].detach().float().cpu()  # (B, Lv)
    boundary = outputs["boundary"].detach().float().cpu()  # (B, Lv, 2)
    results = []
    for b, meta in enumerate(batch["meta"]):
        n = int(batch["video_mask"][b].sum())
        clip_len, duration = float(meta["clip_len"]), float(meta["duration"])
        centre = torch.arange(n, dtype=torch.float32) + 0.5  # (n,) clip units
        windows = torch.stack([centre - boundary[b, :n, 0], centre + boundary[b, :n, 1]], dim=1)  # (n, 2)
        windows = (windows * clip_len).clamp(0.0, duration)  # (n, 2) seconds
        scores = foreground[b, :n]  # (n,)
        keep = nms_1d(windows, scores, nms_threshold)[:max_windows].tolist()
        results.append(
            {
                "qid": meta["qid"],
                "query": meta["query"],
                "vid": meta["vid"],
                "pred_relevant_windows": [[float(windows[i, 0]), float(windows[i, 1]), float(scores[i])] for i in keep],
                "pred_saliency_scores": highlight[b, :n].tolist(),
            }
        )
    return results
