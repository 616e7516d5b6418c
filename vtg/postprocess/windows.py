"""Conversions between clips and time.

Clip i of a video cut into clips of ``clip_len`` seconds covers [i * clip_len, (i + 1) * clip_len) and has
its centre at t_i = (i + 0.5) clip units. A clip-wise model predicts, at clip i, distances (ds_i, de_i) >= 0
in clip units from t_i to the start and end of the moment, i.e. the window
[(t_i - ds_i) * clip_len, (t_i + de_i) * clip_len] seconds, clamped to [0, duration].
"""

from __future__ import annotations

import torch


def clip_centres(n_clips: int) -> torch.Tensor:
    """(Lv,) clip centres in clip units: 0.5, 1.5, ..."""
    return torch.arange(n_clips, dtype=torch.float32) + 0.5


def boundaries_to_windows(boundary: torch.Tensor, clip_len: float, duration: float) -> torch.Tensor:
    """(..., Lv, 2) windows in seconds from (..., Lv, 2) clip-unit distances (ds, de) around each centre."""
    centres = clip_centres(boundary.shape[-2]).to(boundary)  # (Lv,)
    start = (centres - boundary[..., 0]) * clip_len  # (..., Lv)
    end = (centres + boundary[..., 1]) * clip_len  # (..., Lv)
    return torch.stack([start, end], dim=-1).clamp(min=0.0, max=duration)  # (..., Lv, 2)
