"""Soft non-maximum suppression of 1-D segments (Bodla et al., ICCV 2017), SDST's inference step (Sec. C.4).

Instead of deleting every segment that overlaps a kept one, soft-NMS lowers its score:

    gaussian:  s_i <- s_i * exp(-IoU(M, b_i)^2 / sigma)
    linear:    s_i <- s_i * (1 - IoU(M, b_i))   if IoU(M, b_i) >= threshold

where M is the highest-scoring segment still in the pool; M is then kept and removed from the pool.
"""

from __future__ import annotations

import torch

from sdst_teacher.sdst.segments import pairwise_iou


def soft_nms(
    segments: torch.Tensor, scores: torch.Tensor, method: str, sigma: float, threshold: float, max_keep: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """segments (N, 2) start-end, scores (N,) -> kept segments (K, 2) and their decayed scores (K,), best first."""
    if method not in ("gaussian", "linear"):
        raise ValueError(f"unknown soft-NMS method {method!r}")
    scores = scores.clone().float()
    iou = pairwise_iou(segments.float(), segments.float())  # (N, N)
    remaining = torch.ones(len(scores), dtype=torch.bool, device=scores.device)
    kept: list[int] = []
    kept_scores: list[torch.Tensor] = []
    while remaining.any() and len(kept) < max_keep:
        best = int(torch.where(remaining, scores, torch.full_like(scores, float("-inf"))).argmax())
        kept.append(best)
        kept_scores.append(scores[best].clone())
        remaining[best] = False
        overlap = iou[best]  # (N,)
        if method == "gaussian":
            decay = torch.exp(-(overlap**2) / sigma)
        else:
            decay = torch.where(overlap >= threshold, 1.0 - overlap, torch.ones_like(overlap))
        scores = torch.where(remaining, scores * decay, scores)
    index = torch.as_tensor(kept, dtype=torch.long, device=segments.device)
    if not kept:
        return segments[index], scores[index]
    return segments[index], torch.stack(kept_scores)
