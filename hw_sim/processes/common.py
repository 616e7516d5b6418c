"""The constructor arguments every SpikingVTG process shares, turned into Lava proc_params."""

from __future__ import annotations

from typing import Any

import numpy as np


def process_params(
    parameters: tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]],
    tc: int,
    max_video: int,
    max_text: int,
    record_shape: tuple[int, ...] | None,
) -> dict[str, Any]:
    """proc_params: the weights (``arrays``, ``scalars``, ``architecture`` of one precision), Tc,
    the padded lengths and the shape of the spike record (None when not recording)."""
    arrays, scalars, architecture = parameters
    return {
        "arrays": arrays,
        "scalars": scalars,
        "architecture": architecture,
        "tc": tc,
        "max_video": max_video,
        "max_text": max_text,
        "record_shape": record_shape,
    }


def packet_size(architecture: dict[str, Any], max_video: int, max_text: int) -> int:
    """Length of the injected packet [n_video, n_text, video (Lv_max, Dv).flat, text (Lq_max, Dt).flat]."""
    return 2 + max_video * architecture["video_dim"] + max_text * architecture["text_dim"]
