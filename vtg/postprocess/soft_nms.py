"""Soft-NMS of 1-D windows (Bodla et al., 2017): decay instead of dropping.

Repeatedly take the best remaining window M and rescale every other remaining window b::

    gaussian:  s_b <- s_b * exp(-IoU(M, b)^2 / sigma)
    linear:    s_b <- s_b * (1 - IoU(M, b))   if IoU(M, b) > iou_threshold

Windows whose score falls below ``score_threshold`` are discarded.
"""

from __future__ import annotations

import torch

from vtg.postprocess.iou import temporal_iou

METHODS = ("gaussian", "linear")


def soft_nms_1d(
    windows: torch.Tensor,
    scores: torch.Tensor,
    method: str = "gaussian",
    sigma: float = 0.5,
    iou_threshold: float = 0.3,
    score_threshold: float = 1e-3,
    max_windows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Kept windows (n, 2) and their decayed scores (n,), in decreasing score order."""
    if method not in METHODS:
        raise ValueError(f"soft-NMS method must be one of {METHODS}, got {method!r}")
    iou = temporal_iou(windows, windows)  # (N, N)
    remaining = scores.clone().float()
    alive = remaining >= score_threshold
    kept, kept_scores = [], []
    while alive.any() and (max_windows is None or len(kept) < max_windows):
        best = int(torch.where(alive, remaining, torch.full_like(remaining, -torch.inf)).argmax())
        kept.append(best)
        kept_scores.append(remaining[best].item())
        alive[best] = False
        overlap = iou[best]  # (N,)
        if method == "gaussian":
            decay = torch.exp(-(overlap**2) / sigma)
        else:
            decay = torch.where(overlap > iou_threshold, 1.0 - overlap, torch.ones_like(overlap))
        remaining = remaining * torch.where(alive, decay, torch.ones_like(decay))
        alive &= remaining >= score_threshold
    index = torch.tensor(kept, dtype=torch.long)
    return windows[index].reshape(-1, 2), torch.tensor(kept_scores, dtype=scores.dtype)
