"""Sinusoidal encodings (Table A: "PE: Sinusoidal") of clip positions and of the references R.

The dense stream's self-attention adds the encoding of each clip's index to its queries and keys; the
sparse stream turns each reference (c, w) into a positional query, as DAB-DETR [23] does for its anchors.
"""

from __future__ import annotations

import math

import torch


def sinusoid(values: torch.Tensor, dim: int, scale: float = 2 * math.pi, base: float = 10000.0) -> torch.Tensor:
    """Encode each scalar of ``values`` (...) as ``dim`` features (..., dim).

    PE(x)_{2i} = sin(scale x / base^{2i/dim}), PE(x)_{2i+1} = cos(scale x / base^{2i/dim})  [Vaswani et al.]
    """
    freqs = base ** (torch.arange(dim // 2, device=values.device, dtype=torch.float32) * 2 / dim)  # (dim/2,)
    angles = values.float()[..., None] * scale / freqs  # (..., dim/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (..., dim)


def clip_encoding(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Encoding of clip indices 0..length-1: (length, dim); the index itself is the angle, as in Transformer PE."""
    return sinusoid(torch.arange(length, device=device), dim, scale=1.0)


def reference_encoding(references: torch.Tensor, dim: int) -> torch.Tensor:
    """Encoding of centre-width references (..., 2) in [0, 1]: (..., dim), half the features for each of c and w."""
    centre, width = references.unbind(-1)
    return torch.cat([sinusoid(centre, dim // 2), sinusoid(width, dim // 2)], dim=-1)
