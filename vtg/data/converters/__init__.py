"""Converters from public annotation formats to QVHighlights jsonl (see :mod:`vtg.data.annotations`).

Each converter reads the file as distributed and returns the annotation records and how many windows it
had to cut at the end of their video (published Charades-STA and TACoS windows sometimes run a little
past it; R1 at high IoU reads a little higher against the cut windows than against the published ones:
give ``vtg eval`` the published file to compare with results that do not cut), and how many videos it
left out (YouTube Highlights' videos without a highlight clip);
every record is then validated as an annotation line before anything is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vtg.data.annotations import parse_annotation
from vtg.data.converters.charades import convert_charades
from vtg.data.converters.tacos import convert_tacos
from vtg.data.converters.youtube import convert_youtube
from vtg.data.jsonl import write_jsonl
from vtg.errors import UserError

MAX_QID = 2**63 - 1  # the largest integer the readers take (int64, vtg/json_file.py)

# name -> reader(source, durations file, clip length) -> (records, windows cut at the video's end, videos left out)
CONVERTERS = {
    "charades": lambda source, durations, clip_len: (*convert_charades(source, durations), 0),
    "tacos": lambda source, durations, clip_len: (*convert_tacos(source), 0),
    "youtube": lambda source, durations, clip_len: convert_youtube(source, clip_len),
}


def convert(
    dataset: str, source: Path, out: Path, durations: Path | None = None, clip_len: float = 2.0, first_qid: int = 0
) -> dict[str, Any]:
    """Convert ``source`` (format ``dataset``) into the jsonl file ``out``; return a summary.

    Queries are numbered in file order from ``first_qid``: the splits of one dataset folder share its text
    features (``qid{qid}.npz``), so a second split converted from another file starts after the first's.
    """
    if dataset not in CONVERTERS:
        raise UserError(f"option --dataset: unknown dataset {dataset!r} (choose from {', '.join(CONVERTERS)})")
    if not math.isfinite(clip_len) or clip_len <= 0:
        raise UserError(f"option --clip-len: expected a positive number of seconds, got {clip_len}")
    if not 0 <= first_qid <= MAX_QID:
        raise UserError(f"option --first-qid: expected an integer from 0 to {MAX_QID}, got {first_qid!r}")
    records, clamped, skipped = CONVERTERS[dataset](source, durations, clip_len)
    if first_qid + len(records) - 1 > MAX_QID:  # every reader refuses a larger integer (vtg/json_file.py)
        raise UserError(f"option --first-qid: {first_qid} + {len(records)} queries pass the largest qid {MAX_QID}")
    for record in records:
        record["qid"] += first_qid
    for number, record in enumerate(records, start=1):
        parse_annotation(
            record, f"{source}: converted query {number}", clip_len if dataset == "youtube" else None, True
        )
    count = write_jsonl(out, records)
    return {
        "dataset": dataset,
        "out": str(out),
        "queries": count,
        "videos": len({record["vid"] for record in records}),
        "clamped": clamped,
        "skipped": skipped,
        "qids": [first_qid, first_qid + count - 1],
    }
