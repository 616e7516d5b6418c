"""Saliency feedback gating (SFG) of SpikingVTG (paper Sec. 4.3, Eq. 2).

With the projected query tokens Q (B, Lq, D) and the last encoder layer's ASR on the video tokens
a_Nv[t] (B, Lv, D)::

    M         = Q^T phi(Q W_p)              attentive pooling, W_p in R^{D x 1}     (B, D)
    F_s^i[t]  = cos(a_Nv^i[t], M)           per clip i                              (B, Lv)
              = a . M / (sqrt(||a||^2 + eps^2) ||M||)
    Fbar_s[t] = (F_s - min F_s) / (max F_s - min F_s)   over the real clips of each video
    Vbar[t+1] = V * Fbar_s[t]               the gate of the next timestep's video input

phi is softmax over the real query tokens in the base model (the paper's M = Q^T softmax(Q W_p)). The
NF variants allow no softmax anywhere and the paper does not say what replaces this one; we use a
uniform average plus Eq. 7's kernel, phi(x) = (1 + ReLU(x)) / Lq. Eq. 7's kernel alone gives M = 0
whenever every q_j W_p <= 0 (common at initialisation), and a zero M makes every cosine 0 with an
unbounded gradient (measured: parameter gradients of 1e16 under BPTT). M does not change over time,
so it is computed once per query. W_p stays real-valued in 1-bit NF: M is
computed once per query off the spiking core (like the input projections' real features).
The norm of the clip's ASR is smoothed by eps = 0.1 (a tenth of one neuron firing at every step): a
clip whose neurons have not fired yet has a = 0, where the exact cosine is undefined and its gradient
1 / ||a|| unbounded (torch's cosine_similarity floors the norm at 1e-8, which gave parameter
gradients of 1e17 under BPTT); the smoothing makes such a clip's score 0.
When all real clips score the same (e.g. before any spike, a = 0 gives cos = 0 everywhere) the
min-max normalisation is undefined; the gate is then 1, i.e. no gating, rather than 0 for every clip.
With ``enabled = False`` (the ablation "without SFG") the gate it returns is always 1 (the first step's
g0, ``model.initial_gate``, is the model's, not SFG's); the score is still computed, as it is the model's
saliency output s.
"""

from __future__ import annotations

import torch
from torch import nn

from spiking.attention import attention_weights


class SaliencyFeedbackGate(nn.Module):
    """Sentence pooling, the per-clip score F_s (Eq. 2) and the min-max normalised gate."""

    def __init__(self, hidden: int, normalization_free: bool, enabled: bool, eps: float = 0.1):
        super().__init__()
        self.pool = nn.Linear(hidden, 1, bias=False)  # W_p
        self.normalization_free = normalization_free
        self.enabled = enabled
        self.eps = eps  # smoothing of ||a|| in the cosine
        self.flat = 1e-6  # spread of scores below which there is nothing to rank

    def sentence(self, query: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """M = Q^T phi(Q W_p): query tokens (B, Lq, D), real tokens (B, Lq) -> (B, D)."""
        logits = self.pool(query).transpose(1, 2)[:, :, None, :]  # (B, 1, 1, Lq): one "head", one "query"
        weights = attention_weights(logits, text_mask, self.normalization_free)[:, 0, 0]  # (B, Lq)
        if self.normalization_free:
            weights = weights + text_mask / text_mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, Lq) + uniform
        return (weights[:, :, None] * query).sum(dim=1)  # (B, D)

    def score(self, clip_rates: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """F_s = cos(a_Nv^i, M): clip ASR (B, Lv, D), sentence (B, D) -> (B, Lv) in [-1, 1]."""
        dot = (clip_rates * sentence[:, None, :]).sum(dim=-1)  # (B, Lv)
        clip_norm = (clip_rates.pow(2).sum(dim=-1) + self.eps**2).sqrt()  # (B, Lv)
        return dot / (clip_norm * sentence.norm(dim=-1, keepdim=True).clamp(min=self.flat))

    def normalise(self, score: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """Min-max normalisation over the real clips: (B, Lv) -> (B, Lv) in [0, 1], 0 on padding."""
        low = score.masked_fill(~video_mask, float("inf")).amin(dim=1, keepdim=True)  # (B, 1)
        high = score.masked_fill(~video_mask, float("-inf")).amax(dim=1, keepdim=True)  # (B, 1)
        span = high - low  # (B, 1)
        flat = span <= self.flat  # (B, 1): nothing to rank, do not gate
        normalised = (score - low) / torch.where(flat, torch.ones_like(span), span)  # (B, Lv)
        return torch.where(flat, torch.ones_like(score), normalised) * video_mask

    def forward(self, clip_rates: torch.Tensor, sentence: torch.Tensor, video_mask: torch.Tensor):
        """Score F_s (B, Lv) and the gate for the next timestep (B, Lv): Fbar_s, or 1 when disabled."""
        score = self.score(clip_rates, sentence)  # (B, Lv)
        if not self.enabled:
            return score, video_mask.to(score.dtype)
        return score, self.normalise(score, video_mask)
