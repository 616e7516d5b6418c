"""Recurrent decoder queries (Sec. 3.3.1): centre-width references R^0 (M, 2) and embeddings H^0 (M, F).

Each level refines both: H by the sparse stream, R by the regression head as in DAB-DETR [23],

    R^{l+1} = sigmoid(sigmoid^{-1}(R^l) + RegHead(H^{l+1})),

and R^{l+1} enters level l + 1 detached, so that each level's boxes are learnt from that level's loss
(DAB-DETR's practice); R^0 itself is learnt through the first level.
The positional query of a reference is an MLP of its sinusoidal encoding (Table A: sinusoidal PE).
R^0 starts with centres evenly spread over the video and a width of 1/4 (learnable afterwards).
"""

from __future__ import annotations

import torch
from torch import nn

from sdst_teacher.sdst.blocks import MLP
from sdst_teacher.sdst.position import reference_encoding

INITIAL_WIDTH = 0.25


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


class RecurrentQueries(nn.Module):
    """The learnable R^0 and H^0, the positional query of a reference and the recurrent reference update."""

    def __init__(self, num_queries: int, dim: int):
        super().__init__()
        centres = (torch.arange(num_queries, dtype=torch.float32) + 0.5) / num_queries  # (M,)
        widths = torch.full((num_queries,), INITIAL_WIDTH)  # (M,)
        self.reference_logits = nn.Parameter(inverse_sigmoid(torch.stack([centres, widths], dim=-1)))  # (M, 2)
        self.embeddings = nn.Parameter(torch.zeros(num_queries, dim))  # H^0 (M, F)
        nn.init.normal_(self.embeddings, std=0.02)
        self.position_head = MLP(dim, dim, dim, depth=2)
        self.dim = dim

    def initial(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """R^0 (B, M, 2) in [0, 1] and H^0 (B, M, F)."""
        references = self.reference_logits.sigmoid()[None].expand(batch_size, -1, -1)  # (B, M, 2)
        return references, self.embeddings[None].expand(batch_size, -1, -1)

    def position(self, references: torch.Tensor) -> torch.Tensor:
        """Positional query of references (B, M, 2): (B, M, F)."""
        return self.position_head(reference_encoding(references, self.dim))

    @staticmethod
    def refine(references: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """R^{l+1} = sigmoid(sigmoid^{-1}(R^l) + delta); references, delta (B, M, 2) -> (B, M, 2)."""
        return (inverse_sigmoid(references) + delta).sigmoid()
