"""QVHighlights-style annotation lines: reading and validating them.

One line per query::

    {"qid": 2579, "query": "...", "vid": "NUsG9BgSes0_210.0_360.0", "duration": 150,
     "relevant_windows": [[82, 150]], "relevant_clip_ids": [41, 42], "saliency_scores": [[1, 1, 2], [1, 1, 3]]}

``relevant_windows`` are ``[st, ed]`` in seconds with ``0 <= st < ed <= duration``; for highlight detection
``relevant_clip_ids`` are indices of clips (``clip_len`` seconds each) and ``saliency_scores`` hold, for each
of them, the annotators' scores from 0 (very bad) to 4 (very good), three annotators in QVHighlights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtg.data.fields import as_file_stem, as_int, as_list, as_numbers, as_qid, as_string, field_location, get_field
from vtg.data.jsonl import read_jsonl
from vtg.errors import UserError, check_number
from vtg.metrics.records import MAX_SALIENCY

# windows may end this far past the duration (rounding in published files) and are then clamped
DURATION_TOLERANCE = 1e-3


@dataclass
class Annotation:
    """One validated annotation line; ``location`` is its ``file:line``."""

    qid: int | str
    query: str
    vid: str
    duration: float
    windows: list[tuple[float, float]]
    clip_ids: list[int] = field(default_factory=list)
    saliency_scores: list[list[float]] | None = None
    location: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_saliency(self) -> bool:
        """Whether the line carries highlight annotations."""
        return self.saliency_scores is not None and len(self.clip_ids) > 0


KNOWN_FIELDS = {"qid", "query", "vid", "duration", "relevant_windows", "relevant_clip_ids", "saliency_scores"}


def parse_windows(value: Any, duration: float, location: str) -> list[tuple[float, float]]:
    """Validate ``[[st, ed], ...]``: finite, ``0 <= st < ed <= duration``."""
    windows = []
    for i, item in enumerate(as_list(value, location)):
        st, ed = as_numbers(item, f"{location}[{i}]", length=2)
        if st < 0 or ed > duration + DURATION_TOLERANCE:
            raise UserError(f"{location}[{i}]: window [{st}, {ed}] is outside the video [0, {duration}]")
        if st >= ed:
            raise UserError(f"{location}[{i}]: window [{st}, {ed}] is empty (start must be before end)")
        if st >= duration:  # within the tolerance above, but nothing is left once the end is clamped
            raise UserError(f"{location}[{i}]: window [{st}, {ed}] starts at the video's end ({duration} s)")
        windows.append((st, min(ed, duration)))
    return windows


def parse_saliency(record: dict[str, Any], duration: float, clip_len: float | None, location: str):
    """Validate ``relevant_clip_ids`` and ``saliency_scores`` (same length, scores in [0, 4])."""
    if "relevant_clip_ids" not in record and "saliency_scores" not in record:
        return [], None
    ids_at = field_location(location, "relevant_clip_ids")
    clip_ids = [
        as_int(v, f"{ids_at}[{i}]", minimum=0)
        for i, v in enumerate(as_list(get_field(record, "relevant_clip_ids", location), ids_at))
    ]
    listed: set[int] = set()
    for i, clip in enumerate(clip_ids):
        if clip in listed:
            raise UserError(f"{ids_at}[{i}]: clip {clip} listed twice (each clip has one row of scores)")
        listed.add(clip)
    if clip_len is not None:
        n_clips = math.ceil(duration / clip_len - 1e-6)
        for i, clip in enumerate(clip_ids):
            if clip >= n_clips:
                raise UserError(f"{ids_at}[{i}]: clip {clip} is outside the video ({n_clips} clips of {clip_len} s)")
    if "saliency_scores" not in record:
        return clip_ids, None
    scores_at = field_location(location, "saliency_scores")
    rows = as_list(record["saliency_scores"], scores_at, length=len(clip_ids))
    scores = []
    for i, row in enumerate(rows):
        values = as_numbers(row, f"{scores_at}[{i}]")
        if not values or any(v < 0 or v > MAX_SALIENCY for v in values):
            raise UserError(f"{scores_at}[{i}]: expected one or more scores between 0 and 4, got {row!r}")
        if scores and len(values) != len(scores[0]):
            raise UserError(f"{scores_at}[{i}]: {len(values)} annotators' scores, but {len(scores[0])} in row 0")
        scores.append(values)
    return clip_ids, scores


def parse_annotation(
    record: dict[str, Any], location: str, clip_len: float | None, require_windows: bool
) -> Annotation:
    """Validate one annotation record (see the module docstring)."""
    qid = as_qid(get_field(record, "qid", location), field_location(location, "qid"))
    query = as_string(get_field(record, "query", location), field_location(location, "query"))
    vid = as_file_stem(get_field(record, "vid", location), field_location(location, "vid"))
    duration = check_number(get_field(record, "duration", location), field_location(location, "duration"))
    if duration <= 0:
        raise UserError(f"{field_location(location, 'duration')}: expected a positive duration, got {duration}")
    windows_at = field_location(location, "relevant_windows")
    if "relevant_windows" in record:
        windows = parse_windows(record["relevant_windows"], duration, windows_at)
        if require_windows and not windows:
            raise UserError(f"{windows_at}: no window given")
    elif require_windows:
        raise UserError(f"{windows_at}: missing")
    else:
        windows = []
    clip_ids, saliency = parse_saliency(record, duration, clip_len, location)
    extra = {k: v for k, v in record.items() if k not in KNOWN_FIELDS}
    return Annotation(qid, query, vid, duration, windows, clip_ids, saliency, location, extra)


def read_annotations(path: str | Path, clip_len: float | None = None, require_windows: bool = True) -> list[Annotation]:
    """Read and validate an annotation jsonl file.

    ``clip_len`` (seconds) enables the check that clip ids lie inside the video. Without
    ``require_windows`` lines may omit ``relevant_windows`` (a test split). Query ids must be unique.
    """
    annotations = []
    seen: dict[str, str] = {}  # str(qid) -> where it was first read
    annotators: tuple[int, str] | None = None  # the split's number of annotators, and where it was first read
    for location, record in read_jsonl(path, "annotation"):
        annotation = parse_annotation(record, location, clip_len, require_windows)
        qid = str(annotation.qid)  # 24 and "24" read the same qid24.npz
        if qid in seen:
            raise UserError(f"{location}: field 'qid': {annotation.qid!r} already used at {seen[qid]}")
        seen[qid] = location
        if annotation.saliency_scores:  # one number of annotators per split, as the metrics need
            count = len(annotation.saliency_scores[0])
            if annotators is not None and count != annotators[0]:
                raise UserError(
                    f"{location}: field 'saliency_scores': {count} annotators, but {annotators[0]} at {annotators[1]}"
                )
            annotators = annotators or (count, location)
        annotations.append(annotation)
    return annotations


def annotation_to_record(annotation: Annotation) -> dict[str, Any]:
    """The jsonl form of an annotation (the inverse of :func:`parse_annotation`)."""
    record: dict[str, Any] = {
        "qid": annotation.qid,
        "query": annotation.query,
        "vid": annotation.vid,
        "duration": annotation.duration,
        "relevant_windows": [list(w) for w in annotation.windows],
    }
    if annotation.clip_ids or annotation.saliency_scores is not None:  # [] and [] too: a query with no salient clip
        record["relevant_clip_ids"] = annotation.clip_ids
    if annotation.saliency_scores is not None:
        record["saliency_scores"] = annotation.saliency_scores
    record.update(annotation.extra)
    return record
