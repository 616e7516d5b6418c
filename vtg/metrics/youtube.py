"""YouTube Highlights: mean average precision of the clip ranking, per domain, as UniVTG evaluates it.

The ground truth line of a video carries its domain as ``query`` (dog, gymnastics, parkour, skating,
skiing, surfing) and marks highlight clips through ``relevant_clip_ids`` / ``saliency_scores``: clip i
is a positive when it is listed with a mean saliency > 0; every other clip is a negative.

For a video, the clips 0..n-1 that have both a predicted score and a label are ranked, as UniVTG cuts
video and labels to the shorter: n = len(pred_saliency_scores), or the line's ``num_clips`` (the clips
its labels cover, written by ``vtg data convert --dataset youtube``) where that is smaller. They are
sorted by decreasing score (a stable sort) and, with G positives among them, h_k hits in the top k, r_k = h_k / G and
p_k = h_k / k (r_0 = 0, p_0 = 1),

    AP = sum_k (r_k - r_{k-1}) * (p_{k-1} + p_k) / 2          (trapezoidal area; AP = 0 when G = 0).

``HL-mAP-<domain>`` is the mean AP of the domain's videos and ``HL-mAP`` the mean over domains, both as
percentages rounded to two decimals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vtg.errors import UserError
from vtg.metrics.jsonl import origin
from vtg.metrics.percent import percent
from vtg.metrics.records import parse_ground_truth, parse_predictions


def trapezoid_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """AP of ``scores`` (n,) ranking the positives of ``labels`` (n,) in {0, 1} (trapezoidal rule)."""
    ranked = np.asarray(labels, dtype=float)[np.argsort(-np.asarray(scores, dtype=float), kind="stable")]
    positives = ranked.sum()
    if positives == 0:
        return 0.0
    hits = np.cumsum(ranked)
    recall = np.append(0.0, hits / positives)  # (n + 1,)
    precision = np.append(1.0, hits / np.arange(1, len(ranked) + 1))  # (n + 1,)
    return float(np.sum(np.diff(recall) * (precision[:-1] + precision[1:]) / 2))


def evaluate_youtube_highlights(submission: Sequence[dict], ground_truth: Sequence[dict]) -> dict:
    """``{"brief": {"HL-mAP-<domain>": .. for each domain in name order, "HL-mAP": mean over domains}}``."""
    truths = parse_ground_truth(ground_truth, windows=False, saliency=True)
    predictions = parse_predictions(
        submission, truths, windows=False, saliency=True, gt_name=origin(ground_truth, "ground truth")
    )
    ap_by_domain: dict[str, list[float]] = {}
    for qid, truth in truths.items():
        if not truth.query:
            raise UserError(f"{truth.where}: field 'query': expected the video's domain name")
        scores = predictions[qid].saliency[: truth.num_clips]  # (n,) no clip beyond the labelled ones
        labels = np.zeros(len(scores))
        highlight = truth.clip_ids[truth.saliency.mean(axis=1) > 0] if len(truth.clip_ids) else truth.clip_ids
        labels[highlight[highlight < len(scores)]] = 1
        ap_by_domain.setdefault(truth.query, []).append(trapezoid_ap(labels, scores))
    brief = {f"HL-mAP-{domain}": percent(np.mean(ap_by_domain[domain])) for domain in sorted(ap_by_domain)}
    brief["HL-mAP"] = percent(np.mean([np.mean(values) for values in ap_by_domain.values()]))
    return {"brief": brief}
