"""Typed access to the fields of a JSON record, each mistake raised as a located :class:`UserError`.

A *location* is the ``file:line`` string of the record (see :func:`vtg.errors.where`); messages read
``file:line: field 'name': problem``.
"""

from __future__ import annotations

from typing import Any

from vtg.errors import UserError, check_number

MISSING = object()


def field_location(location: str, name: str) -> str:
    """``file:line: field 'name'``: where a field's problem is reported."""
    return f"{location}: field '{name}'"


def get_field(record: dict[str, Any], name: str, location: str, default: Any = MISSING) -> Any:
    """The value of ``name``; a missing field is an error unless a ``default`` is given."""
    if name in record:
        return record[name]
    if default is MISSING:
        raise UserError(f"{field_location(location, name)}: missing")
    return default


def as_string(value: Any, location: str) -> str:
    """``value`` if it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise UserError(f"{location}: expected a non-empty string, got {value!r}")
    return value


def as_int(value: Any, location: str, minimum: int | None = None) -> int:
    """``value`` if it is an integer (not a bool), at least ``minimum``; 3.0 counts as 3."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{location}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise UserError(f"{location}: expected an integer >= {minimum}, got {value}")
    return value


def as_file_stem(value: Any, location: str) -> str:
    """A non-empty string that names a file inside a feature folder (``{vid}.npz``, ``qid{qid}.npz``): no
    folder separator and not ``..``, so that an annotation cannot make a reader climb out of the dataset."""
    text = as_string(value, location)
    if "/" in text or "\\" in text or "\0" in text or text in (".", ".."):
        raise UserError(f"{location}: {text!r} is not a file name inside the feature folder (no '/', '\\' or '..')")
    return text


def as_qid(value: Any, location: str) -> int | str:
    """A query id: an integer (QVHighlights) or a non-empty string that can be part of a file name."""
    if isinstance(value, str):
        return as_file_stem(value, location)
    return as_int(value, location)


def as_list(value: Any, location: str, length: int | None = None) -> list:
    """``value`` if it is a list (of ``length`` items when given)."""
    if not isinstance(value, list):
        raise UserError(f"{location}: expected a list, got {value!r}")
    if length is not None and len(value) != length:
        raise UserError(f"{location}: expected {length} items, got {len(value)}")
    return value


def as_numbers(value: Any, location: str, length: int | None = None) -> list[float]:
    """A list of finite numbers."""
    return [check_number(item, f"{location}[{i}]") for i, item in enumerate(as_list(value, location, length))]
