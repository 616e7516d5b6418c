"""Official evaluation metrics of video temporal grounding (numpy only, no torch).

- :func:`evaluate_qvhighlights`: QVHighlights MR (R1, mAP, length splits) and HD (mAP, HIT@1), exactly
  as Moment-DETR's ``standalone_eval``;
- :func:`evaluate_r1_miou`: Charades-STA and TACoS, R1@{0.3, 0.5, 0.7} and mIoU of the top-1 window;
- :func:`evaluate_youtube_highlights`: YouTube Highlights mAP per domain, as UniVTG computes it.

Each takes a submission and ground truth as sequences of dicts and returns ``{"brief": {name: value},
...}`` with percentages rounded to two decimals; :func:`evaluate` picks one by dataset name.
"""

from __future__ import annotations

from collections.abc import Sequence

from vtg.errors import UserError
from vtg.metrics.highlight import CLIP_LEN_S
from vtg.metrics.jsonl import load_jsonl
from vtg.metrics.qvhighlights import evaluate_qvhighlights
from vtg.metrics.r1_miou import evaluate_r1_miou
from vtg.metrics.records import WINDOW_TOLERANCE_S
from vtg.metrics.youtube import evaluate_youtube_highlights

DATASETS = ("qvhighlights", "charades", "tacos", "youtube")


def evaluate(
    dataset: str,
    submission: Sequence[dict],
    ground_truth: Sequence[dict],
    *,
    window_tolerance: float = WINDOW_TOLERANCE_S,
    clip_len: float = CLIP_LEN_S,
) -> dict:
    """The official metrics of ``dataset`` (one of :data:`DATASETS`) for a submission and its ground truth.

    ``clip_len`` (seconds) matters only to QVHighlights highlight detection, which maps a duration to clips.
    """
    if dataset == "qvhighlights":
        return evaluate_qvhighlights(submission, ground_truth, window_tolerance=window_tolerance, clip_len=clip_len)
    if dataset in ("charades", "tacos"):
        return evaluate_r1_miou(submission, ground_truth, window_tolerance=window_tolerance)
    if dataset == "youtube":
        return evaluate_youtube_highlights(submission, ground_truth)
    raise UserError(f"field 'dataset': unknown dataset {dataset!r} (choose from {', '.join(DATASETS)})")


__all__ = [
    "CLIP_LEN_S",
    "DATASETS",
    "WINDOW_TOLERANCE_S",
    "evaluate",
    "evaluate_qvhighlights",
    "evaluate_r1_miou",
    "evaluate_youtube_highlights",
    "load_jsonl",
]
