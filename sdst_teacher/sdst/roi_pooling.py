"""1-D RoI pooling (RoIAlign [24]) of the dense embeddings over predicted segments, for the actionness head.

torchvision's ``roi_align`` works on 2-D maps; a sequence (B, C, L) is a (B, C, 1, L) map and a segment
[s, e] in clip units is the box (s, 0, e, 1). With ``aligned=True`` torchvision shifts boxes by half a
pixel, so clip i's centre sits at i + 0.5 (the batch's convention) and every sample point lies on the
single row. Each of the ``size`` bins averages bilinear samples along the segment.

torchvision replicates a map's edge pixel for the half pixel beyond it; the sequence is padded with one
zero clip on each side so that, as in :func:`~sdst_teacher.sdst.sampling.sample_1d`, the signal fades to
zero past the video's ends whether or not the batch pads it further.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


def roi_pool_1d(features: torch.Tensor, segments: torch.Tensor, size: int) -> torch.Tensor:
    """features (B, C, L), segments (B, M, 2) start-end in clip units -> (B, M, C, size)."""
    batch, num_segments, _ = segments.shape
    index = torch.arange(batch, device=segments.device, dtype=segments.dtype)[:, None].expand(-1, num_segments)
    zeros = torch.zeros_like(segments[..., 0])
    boxes = torch.stack(
        [index, segments[..., 0] + 1, zeros, segments[..., 1] + 1, torch.ones_like(zeros)], dim=-1
    ).flatten(0, 1)  # (B*M, 5): batch index, x1, y1, x2, y2, shifted by the zero clip in front
    padded = F.pad(features, (1, 1))[:, :, None, :]  # (B, C, 1, L + 2)
    pooled = roi_align(padded, boxes, output_size=(1, size), spatial_scale=1.0, aligned=True)
    return pooled.view(batch, num_segments, features.shape[1], size)  # (B, M, C, size)
