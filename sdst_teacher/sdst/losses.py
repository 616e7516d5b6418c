"""Loss functions used by the criterion: the focal loss (Eq. 17) and InfoNCE (Eq. 12, 21, 22).

Both are written out here (rather than imported) because their normalisation is the paper's: the focal
loss is averaged over the M queries (Eq. 17's 1/M) and InfoNCE ranks one sampled positive against the
candidates allowed by a mask (SampledNCE [46], as in R2-Tuning [25]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Element-wise sigmoid focal loss [21] (Eq. 17), equal to ``torchvision.ops.sigmoid_focal_loss``:

        FL = -alpha_t (1 - p_t)^gamma log(p_t),  p_t = p if y = 1 else 1 - p,  alpha_t = alpha if y = 1 else 1 - alpha.

    Eq. 17 prints the term of the matched queries; unmatched ones are pushed to 0 by the same formula with
    y = 0 ("brings the probability of the unmatched proposals to 0"). A negative ``alpha`` disables weighting.
    """
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # -log(p_t), stable
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def info_nce(logits: torch.Tensor, candidates: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """InfoNCE [31]: mean over rows of -log( exp(s_pos) / sum_{candidates} exp(s_c) ).

    logits (N, C) similarities already divided by the temperature, candidates (N, C) bool (the positive must be
    one of them), positive (N,) the index of each row's positive -> scalar. No rows gives 0.
    """
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    log_prob = logits.masked_fill(~candidates, float("-inf")).log_softmax(-1)  # (N, C)
    return -log_prob.gather(1, positive[:, None]).mean()
