"""Reading JSON-lines files so that every record remembers the file and line it came from.

The evaluators accept plain lists of dicts (what the training engine holds in memory) or the
:class:`JsonLines` read here; :func:`location` names a record either as ``file:line`` or as
``name[index]``, so that a :class:`vtg.errors.UserError` always points at the offending record.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vtg.errors import UserError
from vtg.json_file import json_lines, parse_json


class JsonLines(list):
    """A list of JSON objects read from ``path``; ``line_numbers[i]`` is the 1-based line of record ``i``."""

    def __init__(self, records: list[dict], path: Path, line_numbers: list[int]):
        super().__init__(records)
        self.path = path
        self.line_numbers = line_numbers


def load_jsonl(path: str | Path) -> JsonLines:
    """Read one JSON object per line; blank lines are skipped.

    A missing file, a line that is not valid JSON or not an object, or a file without records is a
    :class:`UserError` naming the file (and line).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    records, line_numbers = [], []
    for number, text in json_lines(path):
        record = parse_json(text, path, number)
        if not isinstance(record, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
        line_numbers.append(number)
    if not records:
        raise UserError(f"{path}: no records (the file is empty)")
    return JsonLines(records, path, line_numbers)


def location(records: Sequence[dict], index: int, name: str) -> str:
    """Where record ``index`` came from: ``file:line`` for :class:`JsonLines`, else ``name[index]``."""
    if isinstance(records, JsonLines):
        return f"{records.path}:{records.line_numbers[index]}"
    return f"{name}[{index}]"


def origin(records: Sequence[dict], name: str) -> str:
    """The file the records came from, or ``name`` for records held in memory."""
    return str(records.path) if isinstance(records, JsonLines) else name
