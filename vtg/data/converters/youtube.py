"""YouTube Highlights (Sun et al., 2014) as distributed with UMT and UniVTG: per video, its domain and one
label per clip in ``match`` (1 highlight, -1 not, 0 borderline). Accepted layouts: one JSON object keyed by
video id, or JSON lines each with a ``vid``::

    {"vid": "BsjTtq337mM", "domain": "dog", "match": [-1, 1, 1, 0, ...], "fps": 29.97, "frames": 3600}

The duration is ``duration`` when given, else ``frames / fps``. Each video becomes one query whose text
is the domain name (the benchmark's query-free setting, so a text-conditioned model sees the domain),
its highlight clips become ``relevant_clip_ids`` with score 4 from three annotators, and runs of
consecutive highlight clips become ``relevant_windows``. Borderline clips count as not relevant, as in
the benchmark's mAP. The domain is kept in a ``domain`` field for per-domain mAP and the number of
labelled clips in ``num_clips`` (the evaluator ranks no clip beyond it, as UniVTG cuts predictions and
labels to the shorter). A video without any highlight clip is left out (a query needs a window to
train on); UniVTG's mean counts such a video with AP 0, so where a split has some, its HL-mAP reads
higher here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vtg.data.fields import as_list, as_string, get_field
from vtg.data.jsonl import read_jsonl
from vtg.errors import UserError, check_number
from vtg.json_file import parse_json, read_text

HIGHLIGHT_SCORES = [4, 4, 4]


def read_videos(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """``(location, vid, entry)`` for every video of either layout."""
    if not path.is_file():
        raise UserError(f"{path}: YouTube Highlights annotation file not found")
    try:
        data = parse_json(read_text(path), path)
    except UserError:
        data = None  # not one JSON document: JSON lines (read_jsonl says what is wrong with them)
    if isinstance(data, dict) and "vid" not in data:
        return [
            (f"{path}: field '{vid}'", vid, entry if isinstance(entry, dict) else {}) for vid, entry in data.items()
        ]
    return [
        (location, as_string(get_field(r, "vid", location), f"{location}: field 'vid'"), r)
        for location, r in read_jsonl(path, "YouTube Highlights")
    ]


def highlight_runs(clips: list[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive clip ids as (first, last)."""
    runs: list[tuple[int, int]] = []
    for clip in clips:
        if runs and clip == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], clip)
        else:
            runs.append((clip, clip))
    return runs


def convert_youtube(path: Path, clip_len: float) -> tuple[list[dict[str, Any]], int, int]:
    """Records (qid in file order from 0), windows cut (never: 0), videos left out (no highlight clip)."""
    path = Path(path)
    records, skipped = [], 0
    for location, vid, entry in read_videos(path):
        domain = as_string(get_field(entry, "domain", location), f"{location}: field 'domain'")
        labels = as_list(get_field(entry, "match", location), f"{location}: field 'match'")
        for i, label in enumerate(labels):
            check_number(label, f"{location}: field 'match[{i}]'")
        if "duration" in entry:
            duration = check_number(entry["duration"], f"{location}: field 'duration'")
        else:
            frames = check_number(get_field(entry, "frames", location), f"{location}: field 'frames'")
            fps = check_number(get_field(entry, "fps", location), f"{location}: field 'fps'")
            if fps <= 0:
                raise UserError(f"{location}: field 'fps': expected a positive number, got {fps}")
            duration = frames / fps
        if (len(labels) - 1) * clip_len >= duration:
            raise UserError(
                f"{location}: field 'match': {len(labels)} clips of {clip_len} s do not fit in {duration:g} s "
                "(check --clip-len)"
            )
        clips = [i for i, label in enumerate(labels) if label > 0]
        if not clips:
            skipped += 1
            continue
        records.append(
            {
                "qid": len(records),
                "query": domain,
                "vid": vid,
                "duration": duration,
                "relevant_windows": [
                    [a * clip_len, min((b + 1) * clip_len, duration)] for a, b in highlight_runs(clips)
                ],
                "relevant_clip_ids": clips,
                "saliency_scores": [HIGHLIGHT_SCORES for _ in clips],
                "domain": domain,
                "num_clips": len(labels),
            }
        )
    if not records:
        raise UserError(f"{path}: no video with a highlight clip (label > 0 in 'match')")
    return records, 0, skipped
