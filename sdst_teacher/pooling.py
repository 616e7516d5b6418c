"""Pooling token-level backbone features into the (T, K, F) intermediate features SDST side-tunes on.

SDST (Sec. 4, Eq. 15) reads, for each of K backbone levels l, the clip-wise embedding
V^l (T, F) pooled from that layer's token output V̂^l (T, L_v, F) over its L_v spatio-temporal tokens::

    cls:   Ṽ^l_t = V̂^l_{t,0}                              the first token (the backbone's class token)
    avg:   Ṽ^l_t = 1/L_v sum_j V̂^l_{t,j}
    attn:  Ṽ^l_t = AdaptivePool(V̂^l_t)                     the same frozen module for every level l

What the paper does for ``attn``: InternVideo2 trains an AdaptivePool (attention-pooling) module on
its *last* layer only, aligning the pooled clip embedding with text. SDST cannot afford to train one
per layer (that needs all L_v tokens of every frame in memory), so it *re-uses that pretrained,
frozen module unchanged on every intermediate layer* (Eq. 15), accepting the shift between the
intermediate and last-layer distributions; it beats CLS and average pooling (its Tab. 3). Nothing is
trained or fine-tuned. :class:`AdaptivePool` has the layout of InternVideo2's ``clip_projector``
(an ``AttentionPoolingBlock``), so its weights load from that module's state dict
(:func:`load_adaptive_pool`). Without a weights file the pool is fixed by a seed: deterministic and
untrained, a stand-in for pipelines on synthetic data, not the paper's method.

AdaptivePool, for the tokens X (L_v, F) of one clip and H heads::

    q = LN_q(mean_j X_j) W_q + b_q,   K = LN_k(X) W_k + b_k,   V = LN_v(X) W_v + b_v
    a_h = softmax(q_h K_h^T / sqrt(A / H)),   out = concat_h(a_h V_h) W_o + b_o      (out_dim F')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from vtg.data.npz import NPY_READ_ERRORS
from vtg.errors import UserError

METHODS = ("cls", "avg", "attn")
INTERNVIDEO2_POOL_PREFIX = "clip_projector."  # InternVideo2's name for its AdaptivePool module


class CrossAttention(nn.Module):
    """InternVideo2's cross-attention: bias-free q/k/v projections with separate bias vectors."""

    def __init__(self, dim: int, num_heads: int, inner_dim: int, out_dim: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, inner_dim, bias=False)
        self.k = nn.Linear(dim, inner_dim, bias=False)
        self.v = nn.Linear(dim, inner_dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(inner_dim))
        self.k_bias = nn.Parameter(torch.zeros(inner_dim))
        self.v_bias = nn.Parameter(torch.zeros(inner_dim))
        self.proj = nn.Linear(inner_dim, out_dim)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """query (N, 1, F), keys and values (N, L, F) -> (N, out_dim)."""
        n, length, _ = keys.shape
        q = (self.q(query) + self.q_bias).view(n, 1, self.num_heads, -1).transpose(1, 2)  # (N, H, 1, A/H)
        k = (self.k(keys) + self.k_bias).view(n, length, self.num_heads, -1).transpose(1, 2)  # (N, H, L, A/H)
        v = (self.v(values) + self.v_bias).view(n, length, self.num_heads, -1).transpose(1, 2)  # (N, H, L, A/H)
        probs = (q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5).softmax(dim=-1)  # (N, H, 1, L)
        return self.proj((probs @ v).flatten(1))  # (N, out_dim)


class AdaptivePool(nn.Module):
    """Attention pooling whose query is the mean token (InternVideo2's ``AttentionPoolingBlock``)."""

    def __init__(self, dim: int, num_heads: int, inner_dim: int | None = None, out_dim: int | None = None):
        super().__init__()
        inner_dim = inner_dim or dim
        if inner_dim % num_heads:
            raise UserError(f"option --attn-heads: {num_heads} heads do not divide the width {inner_dim}")
        self.norm1_q = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_k = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_v = nn.LayerNorm(dim, eps=1e-5)
        self.cross_attn = CrossAttention(dim, num_heads, inner_dim, out_dim or dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (N, L_v, F) -> (N, F')."""
        query = self.norm1_q(tokens.mean(dim=1, keepdim=True))  # (N, 1, F)
        return self.cross_attn(query, self.norm1_k(tokens), self.norm1_v(tokens))


def seeded_adaptive_pool(dim: int, num_heads: int, seed: int) -> AdaptivePool:
    """An untrained AdaptivePool fixed by ``seed``: Xavier-uniform projections, zero biases, identity norms."""
    generator = torch.Generator().manual_seed(seed)
    pool = AdaptivePool(dim, num_heads)
    with torch.no_grad():
        for name, parameter in pool.named_parameters():
            if name.startswith("cross_attn.") and name.endswith("weight"):
                fan_out, fan_in = parameter.shape
                bound = (6.0 / (fan_in + fan_out)) ** 0.5
                parameter.copy_(torch.rand(parameter.shape, generator=generator) * 2 * bound - bound)
            elif name.endswith("bias"):
                parameter.zero_()
    return pool.requires_grad_(False).eval()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise UserError(f"{path}: attention-pool weights file not found")
    if path.suffix != ".npz":
        from vtg.checkpoint import load_plain  # plain data only: the file may come from anyone

        state = load_plain(path, "attention-pool weights file")
    else:
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except NPY_READ_ERRORS as error:
            raise UserError(f"{path}: cannot read attention-pool weights ({error})") from None
        for key, array in arrays.items():
            if array.dtype.kind not in "fiu":  # strings, booleans, complex: torch refuses or misreads them
                raise UserError(f"{path}: '{key}' holds {array.dtype} values, not numbers")
        return {key: torch.from_numpy(array) for key, array in arrays.items()}
    if not isinstance(state, dict):
        raise UserError(f"{path}: expected a state dict (a mapping of names to tensors)")
    for key in state:
        if not isinstance(key, str):
            raise UserError(f"{path}: expected a state dict whose names are strings, found the key {key!r}")
    return state


def _weights(state: dict[str, object], key: str, path: Path) -> torch.Tensor:
    """``state[key]``, or a :class:`UserError` when it is not a tensor (a list or number in a user's file)."""
    if not isinstance(state[key], torch.Tensor):
        raise UserError(f"{path}: '{key}' is a {type(state[key]).__name__}, not an array of weights")
    return state[key]


def load_adaptive_pool(path: str | Path, num_heads: int) -> AdaptivePool:
    """The frozen AdaptivePool stored in ``path`` (``.npz`` of arrays or a PyTorch state dict).

    Names are this module's (``norm1_q.weight``, ``cross_attn.q.weight``, ``cross_attn.q_bias``,
    ``cross_attn.proj.bias``, ...; ``cross_attn.k_bias`` may be absent), which are InternVideo2's: keys
    of a whole InternVideo2 checkpoint are accepted too, the ``...clip_projector.`` prefix being dropped.
    Widths (F, inner width, F') come from the weights; the number of heads cannot, so it is given.
    """
    path = Path(path)
    state = _read_state_dict(path)
    if any(INTERNVIDEO2_POOL_PREFIX in key for key in state):
        state = {
            key.split(INTERNVIDEO2_POOL_PREFIX, 1)[1]: value
            for key, value in state.items()
            if INTERNVIDEO2_POOL_PREFIX in key
        }
    for key in ("cross_attn.q.weight", "cross_attn.proj.weight"):  # the widths are read off these
        if key not in state:
            raise UserError(f"{path}: no '{key}' among the attention-pool weights (has: {', '.join(sorted(state))})")
        if _weights(state, key, path).dim() != 2:
            raise UserError(f"{path}: '{key}' has shape {tuple(state[key].shape)}, expected a matrix (out, in)")
    inner_dim, dim = state["cross_attn.q.weight"].shape
    out_dim = state["cross_attn.proj.weight"].shape[0]
    pool = AdaptivePool(dim, num_heads, inner_dim, out_dim)
    expected = pool.state_dict()
    # BEiT-style checkpoints store no key bias: it shifts all of a query's scores equally, softmax ignores it
    state.setdefault("cross_attn.k_bias", torch.zeros(inner_dim))
    missing = sorted(set(expected) - set(state))
    if missing:
        raise UserError(f"{path}: attention-pool weights lack {', '.join(missing)}")
    for key, value in expected.items():
        if tuple(_weights(state, key, path).shape) != tuple(value.shape):  # other entries of the file: left alone
            raise UserError(f"{path}: '{key}' has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}")
        if not torch.isfinite(state[key].float()).all():
            raise UserError(f"{path}: '{key}' contains NaN or inf")
    pool.load_state_dict({key: state[key].float() for key in expected})
    return pool.requires_grad_(False).eval()


@torch.no_grad()
def pool_tokens(tokens: np.ndarray, method: str, pool: AdaptivePool | None = None, chunk: int = 256) -> np.ndarray:
    """Pool tokens (T, K, L_v, F) over L_v -> (T, K, F') float32 (F' = F except for a projecting pool).

    ``attn`` applies the one frozen ``pool`` to every level, ``chunk`` clips at a time to bound memory.
    """
    if method == "cls":
        return np.ascontiguousarray(tokens[:, :, 0], dtype=np.float32)
    if method == "avg":
        return tokens.mean(axis=2, dtype=np.float64).astype(np.float32)
    if method != "attn":
        raise ValueError(f"unknown pooling method {method!r} (choose from {', '.join(METHODS)})")
    if pool is None:
        raise ValueError("method 'attn' needs the frozen pool")
    t, k, length, dim = tokens.shape
    flat = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.float32)).view(t * k, length, dim)  # (T K, L_v, F)
    pooled = torch.cat([pool(flat[i : i + chunk]) for i in range(0, t * k, chunk)])  # (T K, F')
    return pooled.view(t, k, -1).numpy()
