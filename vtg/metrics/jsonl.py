"""Reading JSON-lines files so that every record remembers the file and line it came from.

The evaluators accept plain lists of dicts (what the training engine holds in memory) or the
:class:`~vtg.json_file.JsonLines` of :func:`load_jsonl` (the toolkit's one JSON-lines reader,
:func:`vtg.json_file.read_json_lines`); :func:`location` names a record either as ``file:line`` or as
``name[index]``, so that a :class:`vtg.errors.UserError` always points at the offending record.
"""

from __future__ import annotations

from collections.abc import Sequence

from vtg.json_file import JsonLines, read_json_lines

# the one JSON-lines reader (vtg.json_file), under the name the evaluators' callers know
load_jsonl = read_json_lines


def location(records: Sequence[dict], index: int, name: str) -> str:
    """Where record ``index`` came from: ``file:line`` for :class:`JsonLines`, else ``name[index]``."""
    if isinstance(records, JsonLines):
        return f"{records.path}:{records.line_numbers[index]}"
    return f"{name}[{index}]"


def origin(records: Sequence[dict], name: str) -> str:
    """The file the records came from, or ``name`` for records held in memory."""
    return str(records.path) if isinstance(records, JsonLines) else name
