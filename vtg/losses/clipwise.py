"""UniVTG's losses for clip-wise predictions (f, d, s), shared by SpikingVTG and the UniVTG-style teacher.

UniVTG (Lin et al., ICCV 2023, Sec. 4.3) trains its clip-wise heads with these terms, and SpikingVTG
(Sec. 4.5, Appendix B) follows it. Over the real clips R of a batch, the foreground clips F ⊆ R, each
query's clip labels y (its annotated saliency where ``saliency_valid``, else the foreground indicator,
as UniVTG labels interval-only datasets such as Charades-STA) and the queries S with a positive label::

    L_b      = 1/|F| sum_{i in F} SmoothL1(d_i / n, d*_i / n)          (summed over ds and de)
    L_g      = 1/|F| sum_{i in F} (1 - GIoU([t_i - ds_i, t_i + de_i], [t_i - ds*_i, t_i + de*_i]))
    L_f      = 1/|R| sum_{i in R} w_i BCE(sigmoid(f_i), f*_i),  w_i = 1 on F, background_weight elsewhere
    L_intra  = mean over (b in S, clip p with y_p > 0 and some n in R_b with y_n < y_p) of
               -log( e^{s_p/tau} / (e^{s_p/tau} + sum_{n in R_b, y_n < y_p} e^{s_n/tau}) )
    L_inter  = -1/|S| sum_b [log softmax_k(c_bk / tau)_b + log softmax_k(c_kb / tau)_b],
               c_bk = cos(h_{b, p_b}, M_k),  p_b = the clip of query b with the highest label

    total = b L_b + g L_g + f L_f + inter L_inter + intra L_intra

with d = (ds, de) in clip units (docs/ARCHITECTURE.md) and n the number of real clips of the clip's
video. As in UniVTG, offsets are regressed as fractions of the video, so that L_b has the scale its
weight b = 10 was chosen for: in clip units it is up to n times larger (about 100 times the other terms
on the demo data), which swamped the other terms and collapsed the teacher's clip tokens.

L_intra is UniVTG's intra-video ranking contrast (each positive clip against the clips of its video
ranked lower, taken here over every positive rather than one sampled per step, so the loss is
deterministic); L_inter is its inter-video InfoNCE (SimCLR-style, Chen et al. 2020), pairing each
query's most salient clip h_{b, p_b} with its own sentence M_b against the other queries' sentences,
in both directions. SpikingVTG calls these two the optional contrastive loss L_c.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vtg.losses.clipwise_config import ClipwiseHeadConfig


def temporal_giou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """1-D GIoU (Rezatofighi et al., CVPR 2019) of windows [t - ds, t + de] given by offsets (N, 2) -> (N,).

    Both windows share the centre t, so IoU = I / U with I = min(ds) + min(de) (clamped at 0) and
    GIoU = IoU - (C - U) / C with C the enclosing length. While ds, de >= 0 both windows contain t, C = U
    and GIoU equals IoU; the enclosing term matters for negative offsets only.
    """
    inter = (torch.minimum(pred[:, 0], target[:, 0]) + torch.minimum(pred[:, 1], target[:, 1])).clamp(min=0)  # (N,)
    union = pred.sum(-1) + target.sum(-1) - inter  # (N,)
    enclosing = torch.maximum(pred[:, 0], target[:, 0]) + torch.maximum(pred[:, 1], target[:, 1])  # (N,)
    return inter / (union + eps) - (enclosing - union) / (enclosing + eps)


def intra_video_loss(saliency: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, tau: float) -> torch.Tensor:
    """L_intra: ranking contrast inside each video; saliency, labels, mask (N, Lv) -> scalar (0 if no pair)."""
    logits = saliency / tau  # (N, Lv)
    lower = (labels[:, None, :] < labels[:, :, None]) & mask[:, None, :]  # (N, Lv_p, Lv_n): n ranked below p
    positive = mask & (labels > 0) & lower.any(-1)  # (N, Lv): positives that have a clip to beat
    if not positive.any():
        return saliency.sum() * 0.0
    eye = torch.eye(labels.shape[1], dtype=torch.bool, device=labels.device)  # (Lv_p, Lv_n)
    candidates = logits[:, None, :].masked_fill(~(lower | eye), float("-inf"))  # (N, Lv_p, Lv_n)
    nll = torch.logsumexp(candidates, dim=-1) - logits  # (N, Lv)
    return nll[positive].mean()


def inter_video_loss(video: torch.Tensor, sentence: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """L_inter: symmetric InfoNCE of top clips and sentences; video (N, Lv, D), sentence (N, D), labels (N, Lv)."""
    top = labels.argmax(dim=1)  # (N,)
    clips = video[torch.arange(len(video), device=video.device), top]  # (N, D)
    sim = F.normalize(clips, dim=-1) @ F.normalize(sentence, dim=-1).T / tau  # (N, N)
    return -(sim.log_softmax(dim=1).diagonal().mean() + sim.T.log_softmax(dim=1).diagonal().mean())


class ClipwiseCriterion:
    """``model.loss`` of a clip-wise model: the unweighted terms and their weighted ``total``.

    Reads ``outputs``: ``foreground_logits`` (B, Lv), ``boundary`` (B, Lv, 2) in clip units, ``saliency``
    (B, Lv), ``video_features`` (B, Lv, D), ``sentence`` (B, D); and the batch of docs/ARCHITECTURE.md.
    """

    def __init__(self, config: ClipwiseHeadConfig):
        self.config = config  # the weights b, g, f, inter, intra of ``total``, L_f's background weight and tau

    def __call__(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        w = self.config
        mask = batch["video_mask"]  # (B, Lv)
        foreground = (batch["foreground"] > 0.5) & mask  # (B, Lv)
        logits = outputs["foreground_logits"]  # (B, Lv)
        zero = logits.sum() * 0.0  # keeps a graph when a term has nothing to average

        pred, target = outputs["boundary"][foreground], batch["boundary"][foreground]  # (|F|, 2)
        num_clips = mask.sum(dim=1, keepdim=True).expand_as(mask)[foreground].to(pred.dtype)[:, None]  # (|F|, 1)
        if len(pred):
            boundary = F.smooth_l1_loss(pred / num_clips, target / num_clips, reduction="sum") / len(pred)
            giou = (1.0 - temporal_giou(pred, target)).mean()
        else:
            boundary = giou = zero

        weights = torch.where(foreground, 1.0, w.background_weight) * mask  # (B, Lv)
        bce = F.binary_cross_entropy_with_logits(logits, foreground.to(logits.dtype), reduction="none")  # (B, Lv)
        fg_loss = (bce * weights).sum() / mask.sum().clamp(min=1)

        # interval-only queries (no saliency annotation) rank their foreground clips above the rest
        labels = torch.where(batch["saliency_valid"][:, None], batch["saliency"], foreground.to(logits.dtype))
        labels = labels * mask  # (B, Lv)
        keep = (labels > 0).any(dim=1)  # (B,): queries with a positive clip
        if keep.any():
            tau = w.temperature
            intra = intra_video_loss(outputs["saliency"][keep], labels[keep], mask[keep], tau)
            inter = inter_video_loss(outputs["video_features"][keep], outputs["sentence"][keep], labels[keep], tau)
        else:
            intra = inter = zero

        total = (
            w.loss_boundary * boundary
            + w.loss_giou * giou
            + w.loss_foreground * fg_loss
            + w.loss_saliency_inter * inter
            + w.loss_saliency_intra * intra
        )
        return {
            "total": total,
            "boundary": boundary,
            "giou": giou,
            "foreground": fg_loss,
            "saliency_inter": inter,
            "saliency_intra": intra,
        }
