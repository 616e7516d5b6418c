"""Official prediction lines from clip-wise model outputs, and writing them.

One line per query (docs/ARCHITECTURE.md)::

    {"qid": 1, "query": "...", "vid": "...", "pred_relevant_windows": [[st, ed, score], ...],
     "pred_saliency_scores": [one float per clip]}

Every clip proposes the window its boundaries describe, scored by its foreground probability; NMS at
``nms_threshold`` removes near-duplicates and the best ``max_windows`` remain, sorted by score.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from vtg.data.jsonl import write_jsonl
from vtg.errors import UserError
from vtg.postprocess.nms import nms_1d
from vtg.postprocess.windows import boundaries_to_windows

DECIMALS = 4


def clipwise_prediction(
    meta: dict[str, Any],
    foreground: torch.Tensor,
    boundary: torch.Tensor,
    saliency: torch.Tensor,
    nms_threshold: float = 0.7,
    max_windows: int = 10,
) -> dict[str, Any]:
    """The prediction line of one query.

    Args:
        meta: the query's ``meta`` from the batch (qid, query, vid, duration, clip_len).
        foreground: (Lv,) probabilities of each real (unpadded) clip being in the moment.
        boundary: (Lv, 2) distances (ds, de) >= 0 in clip units.
        saliency: (Lv,) highlight scores, one per clip.
    """
    foreground, boundary, saliency = (t.detach().float().cpu() for t in (foreground, boundary, saliency))
    for name, values in (("foreground", foreground), ("boundary", boundary), ("saliency", saliency)):
        if not torch.isfinite(values).all():  # NaN would sort first in NMS and be written as null
            raise UserError(f"qid {meta['qid']}: the model's {name} outputs are not finite (NaN or inf): it diverged")
    windows = boundaries_to_windows(boundary, meta["clip_len"], meta["duration"])  # (Lv, 2) seconds
    proper = windows[:, 1] > windows[:, 0]  # clamping can leave empty windows at the video's ends
    if proper.any():  # else every window is empty: they stay (IoU 0 with anything), a line needs one
        windows, foreground = windows[proper], foreground[proper]
    kept = nms_1d(windows, foreground, nms_threshold, max_windows)
    return {
        "qid": meta["qid"],
        "query": meta["query"],
        "vid": meta["vid"],
        "pred_relevant_windows": [
            [round(float(st), DECIMALS), round(float(ed), DECIMALS), round(float(score), DECIMALS)]
            for (st, ed), score in zip(windows[kept].tolist(), foreground[kept].tolist())
        ],
        "pred_saliency_scores": [round(float(s), DECIMALS) for s in saliency.tolist()],
    }


def batch_predictions(
    batch: dict[str, Any],
    foreground: torch.Tensor,
    boundary: torch.Tensor,
    saliency: torch.Tensor,
    nms_threshold: float = 0.7,
    max_windows: int = 10,
) -> list[dict[str, Any]]:
    """Prediction lines of a batch: ``foreground`` (B, Lv) probabilities, ``boundary`` (B, Lv, 2), ``saliency``
    (B, Lv); padded clips (``batch["video_mask"]`` False) are left out."""
    lengths = batch["video_mask"].sum(dim=1).tolist()  # (B,)
    return [
        clipwise_prediction(meta, foreground[i, :n], boundary[i, :n], saliency[i, :n], nms_threshold, max_windows)
        for i, (meta, n) in enumerate(zip(batch["meta"], lengths))
    ]


def write_predictions(path: str | Path, predictions: Iterable[dict[str, Any]]) -> int:
    """Write prediction lines to ``path`` (jsonl, atomically); return how many."""
    return write_jsonl(path, predictions)
