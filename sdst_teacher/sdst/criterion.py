"""SDST's training objective (Eq. 12-14, 16-22).

    L    = l5 L_HD + l6 L_MR + l7 L_align                                         (Eq. 14)
    L_HD = l0 InfoNCE(Y^s)                                                        (Eq. 12, 16)
    L_MR = l1 L_act + sum_l (l2 L_cls^l + l3 L_L1^l + l4 L_IoU^l)                 (Eq. 13, 17-20)
    L_align = sum_l (l_video InfoNCE_batch(V^l, T^pool,l) + l_layer InfoNCE_levels(V^l, T^pool,l))  (Eq. 21-22)

Every level's predictions (R^{l+1} and p) are matched to the ground truth and get the classification, L1 and
IoU losses; the actionness loss uses the last level only (Sec. 3.4: "all but L_act ... across levels"), as
do the saliency scores of D^K. Ground-truth windows (seconds) are normalised by the video's duration to
centre-width in [0, 1]. The positive clip of each video (SampledNCE [46]) is drawn uniformly among its
clips with a positive saliency target (the annotated saliency, or the foreground when the query has
none, as for TACoS); videos without one are left out of the InfoNCE terms.

- Saliency (Eq. 12, 16): within a video, the positive clip against the clips scored no higher than it.
- Video-level alignment (Eq. 21): for positive clip j of video b at level l, T^pool_b against the j-th clips
  of all videos of the batch (the negatives: the other videos' j-th clips).
- Layer-wise alignment (Eq. 22): the same clip and query, against that clip's V at every other level.
Sec. C.3 says the alignment losses apply at every level independently, so both are summed over levels.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from sdst_teacher.sdst.config import SDSTConfig
from sdst_teacher.sdst.losses import focal_loss, info_nce
from sdst_teacher.sdst.matcher import HungarianMatcher
from sdst_teacher.sdst.segments import cw_to_se, paired_iou, se_to_cw
from vtg.postprocess.iou import temporal_iou


def normalised_targets(batch: dict[str, Any]) -> list[torch.Tensor]:
    """The batch's windows (seconds) as centre-width spans in [0, 1] of each video's duration: B x (M*_b, 2)."""
    targets = []
    for windows, meta in zip(batch["windows"], batch["meta"]):
        windows = torch.as_tensor(windows, dtype=torch.float32, device=batch["video"].device).reshape(-1, 2)
        targets.append(se_to_cw((windows / float(meta["duration"])).clamp(0.0, 1.0)))
    return targets


class SDSTCriterion:
    """Computes every term of Eq. 14 from the model's outputs and a batch."""

    def __init__(self, config: SDSTConfig):
        self.config = config
        self.matcher = HungarianMatcher(
            config.match_cls, config.match_l1, config.match_iou, config.focal_alpha, config.focal_gamma
        )

    def __call__(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        cfg = self.config
        targets = normalised_targets(batch)
        losses: dict[str, torch.Tensor] = {}
        mr = outputs["saliency"].new_zeros(())
        for level, (logits, spans) in enumerate(zip(outputs["level_logits"], outputs["level_spans"])):
            terms = self.set_losses(logits, spans, targets)
            for name, value in terms.items():
                losses[f"{name}_{level}"] = value
            mr = mr + cfg.loss_cls * terms["cls"] + cfg.loss_l1 * terms["l1"] + cfg.loss_iou * terms["iou"]
        if "pred_actionness" in outputs:  # the head is there (model.actionness)
            losses["act"] = self.actionness_loss(outputs["pred_actionness"], outputs["pred_spans"], targets)
            mr = mr + cfg.loss_act * losses["act"]
        losses["mr"] = mr

        positive, has_positive = self.sample_positives(batch)
        losses["saliency"] = self.saliency_loss(outputs["saliency"], batch, positive, has_positive)
        losses["hd"] = cfg.loss_saliency * losses["saliency"]
        video_terms, layer_terms = self.alignment_losses(
            outputs["level_video"], outputs["level_text_pool"], batch["video_mask"], positive, has_positive
        )
        losses["align_video"], losses["align_layer"] = sum(video_terms), sum(layer_terms)
        losses["align"] = cfg.loss_align_video * losses["align_video"] + cfg.loss_align_layer * losses["align_layer"]
        losses["total"] = cfg.loss_hd * losses["hd"] + cfg.loss_mr * losses["mr"] + cfg.loss_align * losses["align"]
        return losses

    def set_losses(
        self, logits: torch.Tensor, spans: torch.Tensor, targets: list[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Eq. 17-19 at one level: logits (B, M), spans (B, M, 2) c-w -> {"cls", "l1", "iou"}."""
        matches = self.matcher(logits.detach(), spans.detach(), targets)
        videos = torch.cat([torch.full_like(rows, b) for b, (rows, _) in enumerate(matches)])  # (M*,)
        queries = torch.cat([rows for rows, _ in matches])  # (M*,)
        labels = torch.zeros_like(logits)  # (B, M)
        labels[videos, queries] = 1.0
        pred = spans[videos, queries]  # (M*, 2): one gather for the whole batch
        target = torch.cat([targets[b][cols] for b, (_, cols) in enumerate(matches)])  # (M*, 2)
        count = max(len(target), 1)
        cls = focal_loss(logits, labels, self.config.focal_alpha, self.config.focal_gamma)  # (B, M)
        # Eq. 17's mean over the queries, or DETR's sum over them per ground-truth moment (cls_normalization)
        cls = cls.mean() if self.config.cls_normalization == "queries" else cls.sum() / count
        l1 = (pred - target).abs().sum() / count  # Eq. 18
        iou = (len(target) - paired_iou(cw_to_se(pred), cw_to_se(target)).sum()) / count  # Eq. 19
        return {"cls": cls, "l1": l1, "iou": iou}

    @staticmethod
    def actionness_loss(actionness: torch.Tensor, spans: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
        """Eq. 20: L1 between the predicted actionness (B, M) and each query's max IoU with the ground truth."""
        batch, queries = actionness.shape
        sizes = torch.tensor([len(target) for target in targets], device=actionness.device)  # (B,)
        if int(sizes.sum()) == 0:
            return actionness.abs().mean()  # no moments in the batch: actionness 0 everywhere
        every = cw_to_se(torch.cat(targets))  # (T, 2), every moment of the batch
        iou = temporal_iou(cw_to_se(spans.detach()).reshape(-1, 2), every).view(batch, queries, -1)  # (B, M, T)
        owner = torch.repeat_interleave(torch.arange(batch, device=sizes.device), sizes)  # (T,) video of moment
        own = owner[None, None, :] == torch.arange(batch, device=sizes.device)[:, None, None]  # (B, 1, T)
        # IoU >= 0, so 0 for other videos' moments leaves each query's max over its own (0 for a video without)
        goal = iou.masked_fill(~own, 0.0).amax(dim=-1)  # (B, M)
        return (actionness - goal).abs().mean()

    @staticmethod
    def sample_positives(batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """One positive clip per video among those with a positive saliency target: (B,) index, (B,) bool."""
        scores = SDSTCriterion.saliency_targets(batch)  # (B, L)
        eligible = (scores > 0) & batch["video_mask"]  # (B, L)
        has_positive = eligible.any(dim=1)  # (B,)
        weights = eligible.float() + (~has_positive)[:, None].float()  # rows without positives: any clip
        return torch.multinomial(weights, 1).squeeze(1), has_positive

    @staticmethod
    def saliency_targets(batch: dict[str, Any]) -> torch.Tensor:
        """Annotated saliency where the query has it, otherwise the foreground (Sec. B's TACoS rule): (B, L)."""
        return torch.where(batch["saliency_valid"][:, None], batch["saliency"], batch["foreground"])

    def saliency_loss(
        self, saliency: torch.Tensor, batch: dict[str, Any], positive: torch.Tensor, has_positive: torch.Tensor
    ) -> torch.Tensor:
        """Eq. 12 with Eq. 16's scores (B, L): rank each positive clip above the clips of lower saliency."""
        scores = self.saliency_targets(batch)  # (B, L)
        rows = torch.arange(len(positive), device=positive.device)
        candidates = (scores <= scores[rows, positive][:, None]) & batch["video_mask"]  # (B, L)
        logits = saliency / self.config.temperature  # (B, L)
        return info_nce(logits[has_positive], candidates[has_positive], positive[has_positive])

    def alignment_losses(
        self,
        videos: list[torch.Tensor],
        text_pools: list[torch.Tensor],
        video_mask: torch.Tensor,
        positive: torch.Tensor,
        has_positive: torch.Tensor,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Eq. 21 and 22 at every level: videos K x (B, L, D), text_pools K x (B, D) -> two lists of K scalars."""
        rows = torch.arange(len(positive), device=positive.device)[has_positive]  # (N,)
        clips = positive[has_positive]  # (N,)
        at_clip = torch.stack([v[:, clips] for v in videos])  # (K, B, N, D): every video's clip j_n
        own = at_clip[:, rows, torch.arange(len(rows))]  # (K, N, D): V^l[b_n, j_n]
        batch_candidates = video_mask[:, clips].T  # (N, B): video b' has a clip j_n
        level_candidates = torch.ones(len(rows), len(videos), dtype=torch.bool, device=video_mask.device)
        video_terms, layer_terms = [], []
        for level, pool in enumerate(text_pools):
            query = pool[rows]  # (N, D)
            across_batch = F.cosine_similarity(at_clip[level].transpose(0, 1), query[:, None], dim=-1)  # (N, B)
            video_terms.append(info_nce(across_batch / self.config.temperature, batch_candidates, rows))
            across_levels = F.cosine_similarity(own.transpose(0, 1), query[:, None], dim=-1)  # (N, K)
            target = torch.full_like(rows, level)
            layer_terms.append(info_nce(across_levels / self.config.temperature, level_candidates, target))
        return video_terms, layer_terms
