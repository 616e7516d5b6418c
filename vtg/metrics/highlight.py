"""QVHighlights highlight detection: mAP and HIT@1 of the clip saliency ranking, per saliency threshold.

Definitions (those of the official ``standalone_eval/eval.py``):

- a video of duration D has N = floor(D / clip_len) clips (clip_len = 2 s in QVHighlights; one more, the
  partial last clip, when an annotation names it: the loader's count, which the official code would index
  past its array for); annotator
  a's score of clip i is its ``saliency_scores`` entry when i is in ``relevant_clip_ids`` and 0
  otherwise (clips without saliency are negatives at every threshold; a query without any relevant clip,
  which the official evaluator cannot index, has only negatives);
- at threshold "min" score m (Fair m = 2, Good m = 3, VeryGood m = 4), clip i is positive for annotator a
  when its score >= m;
- the predicted scores are cut to N clips, or padded with zeros up to N, before ranking;
- **HL-mAP**: :func:`vtg.metrics.ranking_ap.ranking_ap` of the ranking for each (query, annotator),
  averaged over all queries and annotators;
- **HL-Hit1**: the highest-scoring predicted clip (the first on ties, before any cutting) is a hit when
  at least one annotator marks it positive; a clip index >= N is a miss. Averaged over queries.

Both are percentages rounded to two decimals.
"""

from __future__ import annotations

import numpy as np

from vtg.errors import UserError
from vtg.metrics.percent import percent
from vtg.metrics.ranking_ap import ranking_ap
from vtg.metrics.records import Prediction, Truth

SALIENCY_THRESHOLDS = {"Fair": 2, "Good": 3, "VeryGood": 4}
CLIP_LEN_S = 2.0
MAX_CLIPS = 10**7  # clips per video scored: 231 days of 2-s clips; beyond it a duration or clip length is a mistake


def clip_scores(truth: Truth, num_annotators: int, clip_len: float) -> np.ndarray:
    """Every clip's annotator scores (N, annotators), 0 for clips outside ``relevant_clip_ids``."""
    if truth.duration is None:
        raise UserError(f"{truth.where}: missing field 'duration'")
    if truth.duration / clip_len > MAX_CLIPS:  # an array of scores per clip is built below
        raise UserError(
            f"{truth.where}: field 'duration': {truth.duration:g} s makes more than {MAX_CLIPS} clips of {clip_len:g} s"
        )
    num_clips = int(truth.duration / clip_len)  # the official evaluator's count: whole clips only
    if len(truth.clip_ids) and truth.clip_ids.max() == num_clips and truth.duration > num_clips * clip_len + 1e-6:
        # an annotation naming the partial last clip, which the loader accepts as a clip of the video (its
        # features have ceil(duration / clip_len) clips) and the official code would index past its array
        # for: that clip counts too (data the official code scores is scored as it scores it)
        num_clips += 1
    if num_clips == 0:
        raise UserError(f"{truth.where}: field 'duration': {truth.duration:g} s is shorter than a {clip_len:g} s clip")
    if len(truth.clip_ids) and truth.clip_ids.max() >= num_clips:
        raise UserError(
            f"{truth.where}: field 'relevant_clip_ids': clip {truth.clip_ids.max()} is outside the video "
            f"({num_clips} clips of {clip_len:g} s)"
        )
    scores = np.zeros((num_clips, num_annotators))
    if len(truth.clip_ids):
        scores[truth.clip_ids] = truth.saliency
    return scores


def fit_length(scores: np.ndarray, length: int) -> np.ndarray:
    """Cut ``scores`` to ``length`` or pad it with zeros up to ``length``."""
    fitted = np.zeros(length)
    fitted[: min(length, len(scores))] = scores[:length]
    return fitted


def annotator_count(truths: dict[int | str, Truth]) -> int:
    """The number of annotators, which must be the same on every line that has saliency rows."""
    counts = {truth.where: truth.saliency.shape[1] for truth in truths.values() if len(truth.saliency)}
    if not counts:
        raise UserError(f"{next(iter(truths.values())).where}: field 'saliency_scores': no query has saliency scores")
    first_where, first = next(iter(counts.items()))
    for where, count in counts.items():
        if count != first:
            raise UserError(f"{where}: field 'saliency_scores': {count} annotators, but {first} at {first_where}")
    return first


def evaluate_highlight(
    predictions: dict[int | str, Prediction], truths: dict[int | str, Truth], clip_len: float = CLIP_LEN_S
) -> dict[str, dict[str, float]]:
    """``{"HL-min-Fair": {"HL-mAP": .., "HL-Hit1": ..}, "HL-min-Good": .., "HL-min-VeryGood": ..}``."""
    num_annotators = annotator_count(truths)
    gt_scores = {qid: clip_scores(truth, num_annotators, clip_len) for qid, truth in truths.items()}
    minimums = np.array(list(SALIENCY_THRESHOLDS.values()))  # (T,)
    ap = np.zeros((len(truths), len(minimums), num_annotators))  # (Q, T, annotators)
    hits = np.zeros((len(truths), len(minimums)))  # (Q, T)
    for q, (qid, scores) in enumerate(gt_scores.items()):
        positive = scores[:, None, :] >= minimums[None, :, None]  # (N, T, annotators)
        predicted = predictions[qid].saliency
        top = int(np.argmax(predicted))
        if top < len(positive):
            hits[q] = positive[top].any(axis=1)
        ranked = fit_length(predicted, len(positive))
        ap[q] = ranking_ap(positive.reshape(len(positive), -1), ranked).reshape(len(minimums), num_annotators)
    return {
        f"HL-min-{name}": {"HL-mAP": percent(ap[:, t].mean()), "HL-Hit1": percent(hits[:, t].mean())}
        for t, name in enumerate(SALIENCY_THRESHOLDS)
    }
