"""Charades-STA: lines ``VID st ed##sentence`` (seconds), durations from ``charades.json``.

``charades.json`` maps a video id to ``{"duration": seconds, ...}``; by default it is looked for beside
the annotation file. Clips are conventionally 1 s long for Charades-STA (set ``clip_len: 1.0`` in the
``dataset.yaml`` that uses the result).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from vtg.errors import UserError, check_number, where
from vtg.json_file import read_json_object, read_text

DURATIONS_FILE = "charades.json"
DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # a finite decimal number


def read_durations(path: Path) -> dict[str, float]:
    """Video id -> duration in seconds from ``charades.json``."""
    data = read_json_object(
        path, "Charades durations file not found (give it with --durations)", "mapping video ids to their information"
    )
    durations = {}
    for vid, info in data.items():
        if not isinstance(info, dict) or "duration" not in info:
            raise UserError(f"{path}: field '{vid}.duration': missing")
        durations[vid] = check_number(info["duration"], f"{path}: field '{vid}.duration'")
    return durations


def convert_charades(path: Path, durations_path: Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """Records (qid = line order from 0) and the number of windows cut at the video's end."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: Charades-STA annotation file not found")
    durations = read_durations(Path(durations_path) if durations_path else path.with_name(DURATIONS_FILE))
    records, clamped = [], 0
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        location = where(path, number)
        head, separator, sentence = line.partition("##")
        parts = head.split()
        if not separator or len(parts) != 3 or not sentence.strip():
            raise UserError(f"{location}: expected 'VID start end##sentence', got {line[:60]!r}")
        vid = parts[0]
        # decimal numbers only: float() also reads 'inf', 'nan' and '1_0'
        if not all(DECIMAL.fullmatch(part) for part in parts[1:]):
            raise UserError(f"{location}: start and end must be numbers, got {parts[1]!r} {parts[2]!r}")
        st, ed = float(parts[1]), float(parts[2])
        if not (math.isfinite(st) and math.isfinite(ed)):  # 1e999
            raise UserError(f"{location}: start and end must be finite, got {parts[1]!r} {parts[2]!r}")
        if vid not in durations:
            raise UserError(f"{location}: video {vid!r} has no duration in the durations file")
        duration = durations[vid]
        if st < 0 or st >= duration or st >= ed:
            raise UserError(f"{location}: window [{st}, {ed}] is outside the video [0, {duration}] or empty")
        if ed > duration:
            ed, clamped = duration, clamped + 1
        records.append(
            {
                "qid": len(records),
                "query": sentence.strip(),
                "vid": vid,
                "duration": duration,
                "relevant_windows": [[st, ed]],
            }
        )
    if not records:
        raise UserError(f"{path}: Charades-STA annotation file is empty")
    return records, clamped
