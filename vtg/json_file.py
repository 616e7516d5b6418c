"""JSON files: reading (a whole file holding one object, or JSON lines) with the one-line errors of
:mod:`vtg.errors`, and writing strict JSON.

Every JSON reader of the toolkit parses through :func:`parse_json`, and every JSON-lines file is read by
:func:`read_json_lines`, so that what cannot be right is refused the same way everywhere, with its file
and line: invalid UTF-8, nesting too deep for the parser (``[[[[...``), integers too large for any field (a
400-digit number), and text that is not JSON. What the toolkit writes goes through :func:`json_safe`: JSON
has no NaN or infinity (Python's ``json`` writes them as bare ``NaN``, which strict readers refuse): every
result file and ``--json`` line is written by :func:`to_json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vtg.errors import UserError

# digits of the largest integer any field may hold (int64: 9223372036854775807)
MAX_INTEGER_DIGITS = 19


class _AbsurdInteger(ValueError):
    """Raised from inside the parser for an integer of more than :data:`MAX_INTEGER_DIGITS` digits."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise _AbsurdInteger(f"an integer of {digits} digits is out of range")
    return int(text)


def parse_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """The value of JSON ``text``: file ``path`` whole, or its line ``line`` (JSON lines); else a :class:`UserError`
    naming the file and line."""
    location = f"{path}:{line}" if line is not None else str(path)
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as error:
        if line is None:
            raise UserError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        raise UserError(f"{location}: not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise UserError(f"{location}: not valid JSON (nested too deeply)") from None
    except _AbsurdInteger as error:
        raise UserError(f"{location}: {error}") from None


def read_text(path: Path) -> str:
    """The whole text of ``path`` (UTF-8); a file that cannot be read or decoded is a :class:`UserError` naming
    the line of the first invalid byte."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte {raw[error.start]:#04x})") from None


def json_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line of ``path``; invalid UTF-8 is a :class:`UserError`
    naming the line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UserError(f"{path}:{number}: not valid UTF-8 (byte {raw[error.start]:#04x})") from None
            if text.strip():
                yield number, text


class JsonLines(list):
    """A list of JSON objects read from ``path``; ``line_numbers[i]`` is the 1-based line of record ``i``."""

    def __init__(self, records: list[dict], path: Path, line_numbers: list[int]):
        super().__init__(records)
        self.path = path
        self.line_numbers = line_numbers


def read_json_lines(path: str | Path, what: str = "") -> JsonLines:
    """The JSON object on each non-blank line of ``path``, remembering their lines.

    A missing file (``"{path}: {what} file not found"``), a line that is not valid JSON or not an object
    (``"{path}:{line}: ..."``), or a file without records (``"{path}: {what} file is empty"``) is a
    :class:`UserError`; ``what`` names the file's role for the reader of the message ("annotation").
    """
    path = Path(path)
    role = f"{what} file" if what else "file"
    if not path.is_file():
        raise UserError(f"{path}: {role} not found")
    records, line_numbers = [], []
    for number, text in json_lines(path):
        record = parse_json(text, path, number)
        if not isinstance(record, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
        line_numbers.append(number)
    if not records:
        raise UserError(f"{path}: {role} is empty")
    return JsonLines(records, path, line_numbers)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN and infinity, in nested dicts, lists and tuples, as None (JSON's null).

    Metrics are NaN where nothing could be scored (e.g. the mAP of a length bucket without queries); written
    by :func:`to_json` they become null rather than invalid JSON.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def to_json(value: Any, **options: Any) -> str:
    """Strict JSON text of ``value`` (NaN and infinity as null, :func:`json_safe`); ``options`` as json.dumps'."""
    return json.dumps(json_safe(value), allow_nan=False, **options)


def read_json_object(path: str | Path, missing: str, holds: str = "") -> dict[str, Any]:
    """The JSON object of file ``path``.

    Raises :class:`UserError` ``"{path}: {missing}"`` when there is no such file, ``"{path}:LINE: not
    valid JSON (...)"`` when it does not parse, and ``"{path}: expected a JSON object {holds}"`` when its
    top level is not an object (``holds`` says what the object maps, for the reader of the message).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {missing}")
    data = parse_json(read_text(path), path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object {holds}".rstrip())
    return data
