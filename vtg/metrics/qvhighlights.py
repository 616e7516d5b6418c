"""The QVHighlights evaluation: moment retrieval and highlight detection in the official result layout.

The result is what the official ``standalone_eval/eval.py`` writes::

    {"brief": {"MR-full-R1@0.5": .., "MR-full-R1@0.7": .., "MR-full-mAP": .., "MR-full-mAP@0.5": ..,
               "MR-full-mAP@0.75": .., "MR-long-mAP": .., "MR-middle-mAP": .., "MR-short-mAP": ..,
               "HL-min-Fair-mAP": .., "HL-min-Fair-Hit1": .., ..Good.., ..VeryGood..},
     "HL-min-Fair": {"HL-mAP": .., "HL-Hit1": ..}, "HL-min-Good": .., "HL-min-VeryGood": ..,
     "full": {"MR-mAP": {"0.5": .., ..., "0.95": .., "average": ..}, "MR-R1": {"0.5": .., ...}},
     "long": .., "middle": .., "short": ..}

Moment retrieval is scored when the first submission line has ``pred_relevant_windows`` and highlight
detection when it has ``pred_saliency_scores`` (every line must then have it). Submission and ground
truth must hold the same qids.
"""

from __future__ import annotations

from collections.abc import Sequence

from vtg.errors import UserError
from vtg.metrics.highlight import CLIP_LEN_S, evaluate_highlight
from vtg.metrics.jsonl import location, origin
from vtg.metrics.moment_retrieval import evaluate_moment_retrieval
from vtg.metrics.records import WINDOW_TOLERANCE_S, parse_ground_truth, parse_predictions


def _brief_retrieval(splits: dict) -> dict[str, float]:
    full = splits["full"]
    brief = {
        "MR-full-R1@0.5": full["MR-R1"]["0.5"],
        "MR-full-R1@0.7": full["MR-R1"]["0.7"],
        "MR-full-mAP": full["MR-mAP"]["average"],
        "MR-full-mAP@0.5": full["MR-mAP"]["0.5"],
        "MR-full-mAP@0.75": full["MR-mAP"]["0.75"],
    }
    brief.update({f"MR-{split}-mAP": splits[split]["MR-mAP"]["average"] for split in ("long", "middle", "short")})
    return brief


def evaluate_qvhighlights(
    submission: Sequence[dict],
    ground_truth: Sequence[dict],
    *,
    window_tolerance: float = WINDOW_TOLERANCE_S,
    clip_len: float = CLIP_LEN_S,
) -> dict:
    """Official QVHighlights metrics of ``submission`` (prediction dicts) against ``ground_truth``.

    Both are sequences of dicts (e.g. from :func:`vtg.metrics.jsonl.load_jsonl`, whose errors then name
    file and line); windows may end ``window_tolerance`` seconds after the video, and saliency is given per
    clip of ``clip_len`` seconds (2 in QVHighlights). Returns the official layout above; ``result["brief"]``
    holds the headline numbers.
    """
    if not submission:
        raise UserError(f"{origin(submission, 'submission')}: no predictions")
    first = submission[0]
    windows = isinstance(first, dict) and "pred_relevant_windows" in first
    saliency = isinstance(first, dict) and "pred_saliency_scores" in first
    if not (windows or saliency):
        raise UserError(
            f"{location(submission, 0, 'submission')}: missing field 'pred_relevant_windows' or 'pred_saliency_scores'"
        )
    truths = parse_ground_truth(ground_truth, windows=windows, saliency=saliency, tolerance=window_tolerance)
    predictions = parse_predictions(
        submission,
        truths,
        windows=windows,
        saliency=saliency,
        tolerance=window_tolerance,
        gt_name=origin(ground_truth, "ground truth"),
    )
    brief, details = {}, {}
    if windows:
        splits = evaluate_moment_retrieval(predictions, truths)
        brief.update(_brief_retrieval(splits))
        details.update(splits)
    if saliency:
        highlight = evaluate_highlight(predictions, truths, clip_len)
        for name, scores in highlight.items():
            brief[f"{name}-mAP"] = scores["HL-mAP"]
            brief[f"{name}-Hit1"] = scores["HL-Hit1"]
        details.update(highlight)
    return {"brief": brief, **dict(sorted(details.items()))}
