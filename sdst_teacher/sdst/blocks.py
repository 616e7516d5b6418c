"""Post-norm Transformer blocks shared by both streams: DropPath, MLP, attention and feed-forward blocks.

Every block is residual with DropPath [16] on the branch and a LayerNorm after the sum (Table A: PreNorm
"No", LN), ``x = LN(x + DropPath(f(x)))`` [Vaswani et al., Eq. 24-25 for f = attention]. Attention is
initialised with Xavier and the feed-forward layers with Kaiming (Table A).
"""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth [16]: drop a sample's whole residual branch with probability p, scale the rest by 1/(1-p)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)  # (B, 1, ...)
        return x * mask / keep


class MLP(nn.Module):
    """``depth`` linear layers with ReLU between them (Table A: ReLU non-linearities)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, depth: int, dropout: float = 0.0):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (depth - 1) + [out_dim]
        layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
        for i in range(depth):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < depth - 1:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class AttentionBlock(nn.Module):
    """Post-norm multi-head attention: ``x = LN(x + DropPath(MHA(x + pos_q, kv + pos_k, kv)))`` (Eq. 24-25).

    Used as CA (``kv`` is the other modality) and SA (``kv`` is ``x``). ``forward`` returns the per-head
    attention map (B, H, Lq, Lk) when asked for, which CLRM distils from the dense stream.
    """

    def __init__(self, dim: int, num_heads: int, droppath: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, num_heads, dropout=0.0, batch_first=True)
        nn.init.xavier_uniform_(self.attention.out_proj.weight)  # in_proj is already Xavier in PyTorch
        self.drop_path = DropPath(droppath)
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor,
        key_padding: torch.Tensor | None,
        pos_q: torch.Tensor | None = None,
        pos_k: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, Lq, D), kv (B, Lk, D), key_padding (B, Lk) True where padded -> (B, Lq, D), (B, H, Lq, Lk) or None."""
        query = x if pos_q is None else x + pos_q
        key = kv if pos_k is None else kv + pos_k
        out, weights = self.attention(
            query, key, kv, key_padding_mask=key_padding, need_weights=need_weights, average_attn_weights=False
        )  # (B, Lq, D), (B, H, Lq, Lk)
        return self.norm(x + self.drop_path(out)), weights


class FeedForwardBlock(nn.Module):
    """Post-norm point-wise feed-forward network (PFFN of Eq. 4 and 6), hidden size ``ratio * dim``."""

    def __init__(self, dim: int, ratio: int, droppath: float):
        super().__init__()
        self.ffn = MLP(dim, ratio * dim, dim, depth=2)
        for module in self.ffn.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        self.drop_path = DropPath(droppath)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop_path(self.ffn(x)))  # (B, L, D)
