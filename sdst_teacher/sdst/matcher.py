"""Hungarian matching of decoder queries to ground-truth moments (Sec. 3.4, C.2), per video, with scipy.

The cost of assigning query i to moment j mirrors the losses (Deformable DETR's form for the focal term):

    C_ij = w_cls * [alpha (1 - p_i)^gamma (-log p_i) - (1 - alpha) p_i^gamma (-log(1 - p_i))]
         + w_l1 * |R_i - Y_j|_1            (centre-width, Eq. 18)
         - w_iou * IoU(R_i, Y_j)           (Eq. 19)

and ``scipy.optimize.linear_sum_assignment`` finds the one-to-one assignment of least total cost. The
costs of a whole batch are one computation, every prediction against every moment of the batch (as
DETR's matcher), of which each video's assignment reads its own block.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

from sdst_teacher.sdst.segments import cw_to_se
from vtg.postprocess.iou import temporal_iou


class HungarianMatcher:
    """Matches each video's M predictions to its M* ground-truth moments (M* <= M)."""

    def __init__(self, cost_cls: float, cost_l1: float, cost_iou: float, alpha: float, gamma: float):
        self.cost_cls, self.cost_l1, self.cost_iou = cost_cls, cost_l1, cost_iou
        self.alpha, self.gamma = alpha, gamma

    def cost_matrix(self, logits: torch.Tensor, spans: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """logits (M,), spans (M, 2) and targets (M*, 2) centre-width in [0, 1] -> cost (M, M*)."""
        prob = logits.sigmoid()  # (M,)
        positive = self.alpha * (1 - prob) ** self.gamma * -(prob + 1e-8).log()
        negative = (1 - self.alpha) * prob**self.gamma * -(1 - prob + 1e-8).log()
        cost_cls = (positive - negative)[:, None]  # (M, 1)
        cost_l1 = torch.cdist(spans, targets, p=1)  # (M, M*)
        cost_iou = -temporal_iou(cw_to_se(spans), cw_to_se(targets))  # (M, M*)
        return self.cost_cls * cost_cls + self.cost_l1 * cost_l1 + self.cost_iou * cost_iou

    @torch.no_grad()
    def __call__(
        self, logits: torch.Tensor, spans: torch.Tensor, targets: list[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """logits (B, M), spans (B, M, 2), targets B tensors (M*_b, 2) -> per video (query indices, target indices)."""
        sizes = [len(target) for target in targets]
        empty = torch.zeros(0, dtype=torch.long, device=logits.device)
        if sum(sizes) == 0:
            return [(empty, empty) for _ in targets]
        batch, queries = logits.shape
        every = torch.cat(targets).float()  # (T, 2), T = sum of M*_b
        cost = self.cost_matrix(logits.reshape(-1).float(), spans.reshape(-1, 2).float(), every)  # (B M, T)
        blocks = cost.view(batch, queries, -1).cpu().split(sizes, dim=-1)  # B x (B, M, M*_b)
        matches = []
        for b, block in enumerate(blocks):
            if sizes[b] == 0:
                matches.append((empty, empty))
                continue
            rows, cols = linear_sum_assignment(block[b].numpy())  # video b's predictions against its moments
            matches.append(
                (
                    torch.as_tensor(rows, dtype=torch.long, device=logits.device),
                    torch.as_tensor(cols, dtype=torch.long, device=logits.device),
                )
            )
        return matches
