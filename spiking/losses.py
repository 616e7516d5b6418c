"""Training losses of SpikingVTG (paper Sec. 4.5 "Training"; its Appendix B follows UniVTG).

Per batch, over the real clips R, the foreground clips F (f*_i = 1) and, for the saliency terms, each
query's clip labels y (the annotated saliency where the query has it, else the foreground indicator,
as UniVTG does for interval-only datasets such as Charades-STA)::

    L_f     = 1/|R| sum_{i in R} w_i BCE(sigmoid(f_i), f*_i),   w_i = 1 on F, background_weight elsewhere
    L_b     = 1/|F| sum_{i in F} SmoothL1(d_i, d*_i)             (ds and de summed)
    L_g     = 1/|F| sum_{i in F} 1 - GIoU(b_i, b*_i),  b = [t_i - ds_i, t_i + de_i]  (Rezatofighi et al.)
    L_intra = mean over clips p with y_p > 0 of
              -log( e^{s_p/tau} / (e^{s_p/tau} + sum_{n in R, y_n < y_p} e^{s_n/tau}) )
    L_inter = symmetric InfoNCE over the batch between c_bk = cos(a*_{b, p_b}, M_k) / tau,
              p_b the clip of query b with the highest label, M_k the pooled sentence of query k
    total   = b L_b + g L_g + f L_f + inter L_inter + intra L_intra

s is the raw cosine saliency F_s* of SFG at equilibrium (spiking/sfg.py) and a* the last layer's
equilibrium ASR on the video tokens; the contrastive terms (SimCLR-style, Chen et al. 2020) are the
paper's optional L_c, switched off with a weight of 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spiking.config import SpikingVTGConfig


def interval_giou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """GIoU of 1-D windows given as offsets (ds, de) around a shared centre: (N, 2), (N, 2) -> (N,)."""
    start = torch.minimum(pred[:, 0], target[:, 0])  # (N,) nearest start, as an offset before the centre
    end = torch.minimum(pred[:, 1], target[:, 1])  # (N,)
    intersection = (start + end).clamp(min=0)  # (N,)
    union = pred.sum(-1) + target.sum(-1) - intersection  # (N,)
    hull = torch.maximum(pred[:, 0], target[:, 0]) + torch.maximum(pred[:, 1], target[:, 1])  # (N,)
    return intersection / (union + eps) - (hull - union) / (hull + eps)


def ranking_contrast(saliency: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, tau: float) -> torch.Tensor:
    """L_intra: each positive clip against the lower-ranked real clips of its video; (N, Lv) inputs."""
    logits = saliency / tau  # (N, Lv)
    below = (labels[:, None, :] < labels[:, :, None]) & mask[:, None, :]  # (N, p, n): y_n < y_p
    anchors = mask & (labels > 0) & below.any(dim=-1)  # (N, Lv): positives with something to beat
    if not anchors.any():
        return saliency.sum() * 0.0
    itself = torch.eye(labels.shape[1], dtype=torch.bool, device=labels.device)[None]  # (1, p, n)
    pool = logits[:, None, :].masked_fill(~(below | itself), float("-inf"))  # (N, p, n)
    return (torch.logsumexp(pool, dim=-1) - logits)[anchors].mean()


def sentence_contrast(clips: torch.Tensor, sentence: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """L_inter: clips (N, Lv, D), sentences (N, D), labels (N, Lv) -> symmetric InfoNCE (scalar)."""
    best = clips[torch.arange(len(clips), device=clips.device), labels.argmax(dim=1)]  # (N, D)
    logits = F.normalize(best, dim=-1) @ F.normalize(sentence, dim=-1).T / tau  # (N, N)
    target = torch.arange(len(clips), device=clips.device)  # (N,)
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)


class SpikingVTGCriterion:
    """``model.loss``: the unweighted terms and their weighted ``total``."""

    def __init__(self, config: SpikingVTGConfig):
        self.config = config

    def __call__(self, outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        cfg = self.config
        mask = batch["video_mask"]  # (B, Lv)
        foreground = (batch["foreground"] > 0.5) & mask  # (B, Lv)
        logits = outputs["foreground_logits"]  # (B, Lv)
        zero = logits.sum() * 0.0  # a zero that keeps the graph when a term is empty

        bce = F.binary_cross_entropy_with_logits(logits, foreground.to(logits.dtype), reduction="none")  # (B, Lv)
        weight = torch.where(foreground, 1.0, cfg.background_weight) * mask  # (B, Lv)
        loss_f = (bce * weight).sum() / mask.sum().clamp(min=1)

        pred, target = outputs["boundary"][foreground], batch["boundary"][foreground]  # (|F|, 2)
        if len(pred):
            loss_b = F.smooth_l1_loss(pred, target, reduction="sum") / len(pred)
            loss_g = (1.0 - interval_giou(pred, target)).mean()
        else:
            loss_b = loss_g = zero

        labels = torch.where(batch["saliency_valid"][:, None], batch["saliency"], foreground.to(logits.dtype))
        labels = labels * mask  # (B, Lv)
        has_labels = (labels > 0).any(dim=1)  # (B,)
        if has_labels.any():
            keep = has_labels
            intra = ranking_contrast(outputs["saliency"][keep], labels[keep], mask[keep], cfg.temperature)
            inter = sentence_contrast(
                outputs["video_features"][keep], outputs["sentence"][keep], labels[keep], cfg.temperature
            )
        else:
            intra = inter = zero

        total = (
            cfg.loss_boundary * loss_b
            + cfg.loss_giou * loss_g
            + cfg.loss_foreground * loss_f
            + cfg.loss_saliency_inter * inter
            + cfg.loss_saliency_intra * intra
        )
        return {
            "total": total,
            "boundary": loss_b,
            "giou": loss_g,
            "foreground": loss_f,
            "saliency_inter": inter,
            "saliency_intra": intra,
        }
