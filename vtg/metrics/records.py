"""Validated ground-truth and prediction records: the checks every evaluator relies on.

Ground truth lines follow QVHighlights (``qid``, ``query``, ``vid``, ``duration``, ``relevant_windows``
``[[st, ed], ...]``, ``relevant_clip_ids``, ``saliency_scores`` one row of annotator scores per relevant
clip); prediction lines carry ``qid``, ``pred_relevant_windows`` ``[[st, ed, score], ...]`` and
``pred_saliency_scores`` (one score per clip). Only the fields an evaluator needs are required.

A window is valid when ``0 <= st <= ed <= duration + tolerance`` and every number is finite. The
default tolerance, ``WINDOW_TOLERANCE_S``, exists because public annotations overrun the recorded
duration a little (Charades-STA test windows end up to 1.5 s after the duration in ``charades.json``);
models that predict on a fixed time axis may need more (Moment-DETR's released QVHighlights val
predictions end up to 10 s after a 124 s video, on its 150 s axis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vtg.errors import UserError, check_number
from vtg.metrics.jsonl import location, origin

# saliency scores are the annotators' 0-4 scale (QVHighlights: Very Bad 0 .. Very Good 4); every reader refuses others
MAX_SALIENCY = 4.0
WINDOW_TOLERANCE_S = 2.0


@dataclass(frozen=True)
class Truth:
    """One ground-truth query; fields that were not required may be ``None``."""

    where: str  # "file:line" or "ground truth[i]"
    qid: int | str
    query: str | None
    duration: float | None
    windows: np.ndarray | None  # (m, 2) seconds
    clip_ids: np.ndarray | None  # (k,) int
    saliency: np.ndarray | None  # (k, annotators)
    num_clips: int | None = None  # clips the video's labels cover (optional ``num_clips``: YouTube Highlights)


@dataclass(frozen=True)
class Prediction:
    """One predicted query; ``windows`` keeps the submitted order (the official top-1 is the first listed)."""

    where: str
    qid: int | str
    windows: np.ndarray | None  # (n, 3) st, ed, score
    saliency: np.ndarray | None  # (clips,)


def _require(record: dict, key: str, where: str):
    if key not in record:
        raise UserError(f"{where}: missing field '{key}'")
    return record[key]


def _integral(value: object) -> object:
    """3.0 as 3 (as the data loader, and Python's dict keys in the official evaluator, take it); else as given."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _qid(record: dict, where: str) -> int | str:
    qid = _integral(_require(record, "qid", where))
    if isinstance(qid, bool) or not isinstance(qid, (int, str)):
        raise UserError(f"{where}: field 'qid': expected an integer or a string, got {qid!r}")
    return qid


def _number_rows(value: object, where: str, key: str, width: int | None) -> np.ndarray:
    """A list of equal-length lists of finite numbers as a float array (rows, width)."""
    if not isinstance(value, list):
        raise UserError(f"{where}: field '{key}': expected a list, got {type(value).__name__}")
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or (width is not None and len(row) != width) or not row:
            shape = f"{width} numbers" if width is not None else "a non-empty list of numbers"
            raise UserError(f"{where}: field '{key}': item {i} should be {shape}, got {row!r}")
        rows.append([check_number(x, f"{where}: field '{key}': item {i}") for x in row])
    if len({len(row) for row in rows}) > 1:
        raise UserError(f"{where}: field '{key}': rows have different lengths")
    columns = width if width is not None else len(rows[0]) if rows else 0
    return np.array(rows, dtype=float).reshape(len(rows), columns)


def _check_windows(windows: np.ndarray, duration: float, tolerance: float, where: str, key: str) -> None:
    for i, (st, ed) in enumerate(windows[:, :2]):
        if st < 0 or st > ed or ed > duration + tolerance:
            raise UserError(
                f"{where}: field '{key}': window {i} [{st:g}, {ed:g}] is outside the video "
                f"(need 0 <= start <= end <= duration {duration:g} + window tolerance {tolerance:g} s, "
                "vtg eval --window-tolerance)"
            )


def _saliency_vector(value: object, where: str, key: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: field '{key}': expected a non-empty list of numbers")
    return np.array([check_number(x, f"{where}: field '{key}': item {i}") for i, x in enumerate(value)])


def parse_ground_truth(
    records: Sequence[dict],
    *,
    windows: bool,
    saliency: bool,
    tolerance: float = WINDOW_TOLERANCE_S,
    name: str = "ground truth",
) -> dict[int | str, Truth]:
    """Validate ground-truth records; ``windows``/``saliency`` say whether MR/HD fields are required.

    MR needs ``duration`` and at least one window per query (the official R1 and AP are undefined
    without one); HD needs ``relevant_clip_ids`` (distinct, >= 0) with one ``saliency_scores`` row each.
    """
    truths: dict[int | str, Truth] = {}
    for index, record in enumerate(records):
        where = location(records, index, name)
        if not isinstance(record, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(record).__name__}")
        qid = _qid(record, where)
        if qid in truths:
            raise UserError(f"{where}: duplicate qid {qid!r} (first at {truths[qid].where})")
        duration = None
        if windows or "duration" in record:
            duration = check_number(_require(record, "duration", where), f"{where}: field 'duration'")
            if duration <= 0:
                raise UserError(f"{where}: field 'duration': must be positive, got {duration:g}")
        gt_windows = None
        if windows:
            gt_windows = _number_rows(_require(record, "relevant_windows", where), where, "relevant_windows", 2)
            if len(gt_windows) == 0:
                raise UserError(f"{where}: field 'relevant_windows': no window to retrieve")
            _check_windows(gt_windows, duration, tolerance, where, "relevant_windows")
        clip_ids = scores = None
        if saliency:
            ids = _require(record, "relevant_clip_ids", where)
            if isinstance(ids, list):
                ids = [_integral(i) for i in ids]
            if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
                raise UserError(f"{where}: field 'relevant_clip_ids': expected a list of clip indices >= 0")
            if len(set(ids)) != len(ids):
                raise UserError(f"{where}: field 'relevant_clip_ids': a clip is listed twice")
            clip_ids = np.array(ids, dtype=int)
            scores = _number_rows(_require(record, "saliency_scores", where), where, "saliency_scores", None)
            if len(scores) != len(clip_ids):
                raise UserError(
                    f"{where}: field 'saliency_scores': {len(scores)} rows for {len(clip_ids)} relevant_clip_ids"
                )
            outside = np.flatnonzero(((scores < 0) | (scores > MAX_SALIENCY)).any(axis=1))
            if len(outside):
                row = int(outside[0])
                raise UserError(
                    f"{where}: field 'saliency_scores': item {row} {scores[row].tolist()} has a score outside "
                    f"0-{MAX_SALIENCY:g} (the annotators' scale)"
                )
        num_clips = _integral(record.get("num_clips"))
        if num_clips is not None and (isinstance(num_clips, bool) or not isinstance(num_clips, int) or num_clips < 1):
            raise UserError(f"{where}: field 'num_clips': expected a number of clips >= 1, got {num_clips!r}")
        query = record.get("query") if isinstance(record.get("query"), str) else None
        truths[qid] = Truth(where, qid, query, duration, gt_windows, clip_ids, scores, num_clips)
    if not truths:
        raise UserError(f"{origin(records, name)}: no records")
    return truths


def parse_predictions(
    records: Sequence[dict],
    truths: dict[int | str, Truth],
    *,
    windows: bool,
    saliency: bool,
    tolerance: float = WINDOW_TOLERANCE_S,
    name: str = "submission",
    gt_name: str = "ground truth",
) -> dict[int | str, Prediction]:
    """Validate prediction records against validated ground truth.

    The qids must be exactly those of the ground truth (as the official evaluator asserts); predicted
    windows must lie inside their video, and at least one window / one saliency score is required.
    """
    predictions: dict[int | str, Prediction] = {}
    for index, record in enumerate(records):
        where = location(records, index, name)
        if not isinstance(record, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(record).__name__}")
        qid = _qid(record, where)
        if qid in predictions:
            raise UserError(f"{where}: duplicate qid {qid!r} (first at {predictions[qid].where})")
        pred_windows = pred_saliency = None
        if windows:
            pred_windows = _number_rows(
                _require(record, "pred_relevant_windows", where), where, "pred_relevant_windows", 3
            )
            if len(pred_windows) == 0:
                raise UserError(f"{where}: field 'pred_relevant_windows': no predicted window")
            duration = truths[qid].duration if qid in truths else None
            if duration is not None:
                _check_windows(pred_windows, duration, tolerance, where, "pred_relevant_windows")
        if saliency:
            scores = _require(record, "pred_saliency_scores", where)
            pred_saliency = _saliency_vector(scores, where, "pred_saliency_scores")
        predictions[qid] = Prediction(where, qid, pred_windows, pred_saliency)
    _check_same_qids(predictions, truths, origin(records, name), gt_name)
    return predictions


def _check_same_qids(predictions: dict, truths: dict, sub_origin: str, gt_origin: str, shown: int = 5) -> None:
    missing = [q for q in truths if q not in predictions]
    extra = [q for q in predictions if q not in truths]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} qid(s) of {gt_origin} missing (e.g. {', '.join(map(repr, missing[:shown]))})")
    if extra:
        parts.append(f"{len(extra)} qid(s) not in {gt_origin} (e.g. {', '.join(map(repr, extra[:shown]))})")
    if {str(q) for q in missing} & {str(q) for q in extra}:
        parts.append('qids compare with their JSON type, so 1 and "1" differ')
    raise UserError(f"{sub_origin}: field 'qid': submission and ground truth differ: {'; '.join(parts)}")
