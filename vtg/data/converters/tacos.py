"""TACoS as published with VSLNet (the TAN split): one JSON object keyed by video file name::

    {"s30-d52.avi": {"timestamps": [[141, 354], ...], "sentences": ["She took out kiwi", ...],
                     "fps": 29.4, "num_frames": 7346}, ...}

Frames become seconds through ``fps``, the duration is ``num_frames / fps``, and the ``.avi`` suffix is
dropped from the video id (feature files are named by the bare id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vtg.errors import UserError, check_number
from vtg.json_file import read_json_object


def convert_tacos(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Records (qid in file order from 0) and the number of windows cut at the video's end."""
    path = Path(path)
    data = read_json_object(path, "TACoS annotation file not found", "mapping video names to annotations")
    if not data:
        raise UserError(f"{path}: expected a JSON object mapping video names to annotations, got an empty one")
    records, clamped = [], 0
    for name, video in data.items():
        at = f"{path}: field '{name}"
        if not isinstance(video, dict):
            raise UserError(f"{at}': expected an object")
        for key in ("timestamps", "sentences", "fps", "num_frames"):
            if key not in video:
                raise UserError(f"{at}.{key}': missing")
        fps = check_number(video["fps"], f"{at}.fps'")
        frames = check_number(video["num_frames"], f"{at}.num_frames'")
        if fps <= 0 or frames <= 0:
            raise UserError(f"{at}': fps and num_frames must be positive, got {fps} and {frames}")
        timestamps, sentences = video["timestamps"], video["sentences"]
        if not isinstance(timestamps, list) or not isinstance(sentences, list) or len(timestamps) != len(sentences):
            raise UserError(f"{at}': 'timestamps' and 'sentences' must be lists of the same length")
        duration = frames / fps
        vid = name[: -len(".avi")] if name.endswith(".avi") else name
        for i, (stamp, sentence) in enumerate(zip(timestamps, sentences)):
            if not isinstance(stamp, list) or len(stamp) != 2:
                raise UserError(f"{at}.timestamps[{i}]': expected [start_frame, end_frame], got {stamp!r}")
            start = check_number(stamp[0], f"{at}.timestamps[{i}][0]'")
            end = check_number(stamp[1], f"{at}.timestamps[{i}][1]'")
            if start < 0 or start >= frames or start >= end:
                raise UserError(
                    f"{at}.timestamps[{i}]': frames [{start}, {end}] outside the video (0-{frames}) or empty"
                )
            if end > frames:
                end, clamped = frames, clamped + 1
            if not isinstance(sentence, str) or not sentence.strip():
                raise UserError(f"{at}.sentences[{i}]': expected a sentence, got {sentence!r}")
            records.append(
                {
                    "qid": len(records),
                    "query": sentence.strip(),
                    "vid": vid,
                    "duration": duration,
                    "relevant_windows": [[start / fps, end / fps]],
                }
            )
    return records, clamped
