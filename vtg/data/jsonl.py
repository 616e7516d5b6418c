"""Reading and writing JSON-lines files (one JSON object per line), the format of annotations and predictions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from vtg.atomic import atomic_write
from vtg.errors import where
from vtg.json_file import read_json_lines, to_json


def read_jsonl(path: str | Path, what: str = "JSON-lines") -> list[tuple[str, dict[str, Any]]]:
    """Parse every non-blank line of ``path`` into a dict (:func:`vtg.json_file.read_json_lines`).

    Returns ``(location, record)`` pairs, ``location`` being ``file:line`` for later error messages.
    A missing file, a line that is not JSON, or a line that is not an object is a :class:`UserError`.
    """
    records = read_json_lines(path, what)
    return [(where(records.path, number), record) for number, record in zip(records.line_numbers, records)]


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` one per line, atomically (:func:`vtg.atomic.atomic_write`); return the count."""
    count = 0

    def write(handle: BinaryIO) -> None:
        nonlocal count
        for record in records:
            handle.write((to_json(record) + "\n").encode("utf-8"))
            count += 1

    atomic_write(path, write)
    return count
