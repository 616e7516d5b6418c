"""Reading a whole JSON file that must hold one object, with the one-line errors of :mod:`vtg.errors`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vtg.errors import UserError


def read_json_object(path: str | Path, missing: str, holds: str = "") -> dict[str, Any]:
    """The JSON object of file ``path``.

    Raises :class:`UserError` ``"{path}: {missing}"`` when there is no such file, ``"{path}:LINE: not
    valid JSON (...)"`` when it does not parse, and ``"{path}: expected a JSON object {holds}"`` when its
    top level is not an object (``holds`` says what the object maps, for the reader of the message).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {missing}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot be read ({error})") from None
    except RecursionError:
        raise UserError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object {holds}".rstrip())
    return data
