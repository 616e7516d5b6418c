"""1-D segments: centre-width <-> start-end conversion and the IoU of paired segments (differentiable, Eq. 19).

The IoU of every segment with every other is the shared :func:`vtg.postprocess.iou.temporal_iou`.

Spans are normalised to the video's duration, so a segment is either ``(c, w)`` (centre, width, the
layout of the references R of Sec. 3.3.1) or ``(s, e)`` (start, end), all in [0, 1].
"""

from __future__ import annotations

import torch


def cw_to_se(spans: torch.Tensor) -> torch.Tensor:
    """(..., 2) centre-width to (..., 2) start-end."""
    centre, width = spans.unbind(-1)
    return torch.stack([centre - 0.5 * width, centre + 0.5 * width], dim=-1)


def se_to_cw(spans: torch.Tensor) -> torch.Tensor:
    """(..., 2) start-end to (..., 2) centre-width."""
    start, end = spans.unbind(-1)
    return torch.stack([0.5 * (start + end), end - start], dim=-1)


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of ``a[i]`` with ``b[i]`` for start-end segments (..., 2): (...)."""
    inter = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    return inter / union.clamp(min=1e-6)
