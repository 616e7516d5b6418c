"""The tests' reader of the prediction lines the toolkit writes (:mod:`vtg.postprocess.predictions`), which
checks the writer's contract, stricter than what ``vtg eval`` accepts (:mod:`vtg.metrics.records`).

Required: ``qid`` and ``pred_relevant_windows`` ``[[st, ed, score], ...]`` with finite numbers,
``st <= ed``, sorted by decreasing score (R1 takes the first window). Checked when present: ``vid`` and
``query`` (strings) and ``pred_saliency_scores`` (finite numbers, one per clip).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vtg.data.fields import as_list, as_numbers, as_qid, as_string, field_location, get_field
from vtg.data.jsonl import read_jsonl
from vtg.errors import UserError


def parse_prediction(record: dict[str, Any], location: str) -> dict[str, Any]:
    """Validate one prediction line; numbers come back as floats."""
    prediction = dict(record)
    prediction["qid"] = as_qid(get_field(record, "qid", location), field_location(location, "qid"))
    for name in ("vid", "query"):
        if name in record:
            as_string(record[name], field_location(location, name))
    windows_at = field_location(location, "pred_relevant_windows")
    windows = []
    for i, item in enumerate(as_list(get_field(record, "pred_relevant_windows", location), windows_at)):
        st, ed, score = as_numbers(item, f"{windows_at}[{i}]", length=3)
        if st > ed:
            raise UserError(f"{windows_at}[{i}]: start {st} is after end {ed}")
        if windows and score > windows[-1][2]:
            raise UserError(
                f"{windows_at}[{i}]: windows must be sorted by decreasing score ({score} after {windows[-1][2]})"
            )
        windows.append([st, ed, score])
    prediction["pred_relevant_windows"] = windows
    if "pred_saliency_scores" in record:
        at = field_location(location, "pred_saliency_scores")
        prediction["pred_saliency_scores"] = as_numbers(record["pred_saliency_scores"], at)
    prediction["location"] = location
    return prediction


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a predictions jsonl file; each dict gains ``location`` (its ``file:line``)."""
    predictions, seen = [], {}
    for location, record in read_jsonl(path, "predictions"):
        prediction = parse_prediction(record, location)
        if prediction["qid"] in seen:
            raise UserError(
                f"{location}: field 'qid': {prediction['qid']!r} already predicted at {seen[prediction['qid']]}"
            )
        seen[prediction["qid"]] = location
        predictions.append(prediction)
    return predictions
