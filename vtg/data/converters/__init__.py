"""Converters from public annotation formats to QVHighlights jsonl (see :mod:`vtg.data.annotations`).

Each converter reads the file as distributed and returns the annotation records and how many windows it
had to cut at the end of their video (published Charades-STA and TACoS windows sometimes run a little
past it); every record is then validated as an annotation line before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vtg.data.annotations import parse_annotation
from vtg.data.converters.charades import convert_charades
from vtg.data.converters.tacos import convert_tacos
from vtg.data.converters.youtube import convert_youtube
from vtg.data.jsonl import write_jsonl
from vtg.errors import UserError

# name -> reader(source, durations file, clip length) -> (records, windows cut at the video's end)
CONVERTERS = {
    "charades": lambda source, durations, clip_len: convert_charades(source, durations),
    "tacos": lambda source, durations, clip_len: convert_tacos(source),
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
    if clip_len <= 0:
        raise UserError(f"option --clip-len: expected a positive number of seconds, got {clip_len}")
    if first_qid < 0:
        raise UserError(f"option --first-qid: expected an integer >= 0, got {first_qid!r}")
    records, clamped = CONVERTERS[dataset](source, durations, clip_len)
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
        "qids": [first_qid, first_qid + count - 1],
    }
