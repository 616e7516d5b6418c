"""Bilinear sampling of a 1-D sequence at continuous positions: the ``x[y]`` of Eq. 9.

Positions are in clip units with clip i covering [i, i + 1) and its centre at i + 0.5 (the convention of
the batch's ``boundary``), so a normalised position u of a video spanning ``span`` clips is ``u * span``.
The sequence is treated as a 1 x L image and sampled with ``grid_sample`` (align_corners=False maps the
image's left edge to -1 and its right edge to +1, which is exactly the clip-unit convention above).
Positions outside the sequence read zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_1d(features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``features`` (N, C, L) at ``positions`` (N, M, P) in clip units: (N, C, M, P)."""
    length = features.shape[-1]
    x = 2.0 * positions / length - 1.0  # (N, M, P), grid_sample's normalised coordinate
    grid = torch.stack([x, torch.zeros_like(x)], dim=-1)  # (N, M, P, 2), y = 0 is the single row's centre
    return F.grid_sample(features[:, :, None, :], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
