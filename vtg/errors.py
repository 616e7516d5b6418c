"""The one way a user's mistake leaves the program.

Every check on user input (a file, a line of a file, a config field, a tensor shape) raises
:class:`UserError` with a message that names *where* the problem is. The command line turns it into a
single line on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

EXIT_USER_ERROR = 2
# numpy's, torch's and Lightning's seeds are unsigned 32-bit integers
MAX_SEED = 2**32 - 1


class UserError(Exception):
    """A mistake in the user's input: bad file, bad line, bad field, bad shape or value.

    The message must name the file and line, or the config field, so that the one line printed is
    enough to fix the problem.
    """


def where(path: str | Path, line: int | None = None, field: str | None = None) -> str:
    """Format a location as ``file:line: field`` (the parts that are known)."""
    text = str(path)
    if line is not None:
        text += f":{line}"
    if field is not None:
        text += f": field '{field}'"
    return text


def check_finite(array: np.ndarray, location: str) -> None:
    """Raise :class:`UserError` at ``location`` if ``array`` holds NaN or inf."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = "NaN" if np.isnan(array).any() else "inf"
        raise UserError(f"{location}: contains {bad}")


def check_number(value: object, location: str) -> float:
    """Return ``value`` as a finite float or raise :class:`UserError` naming ``location``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{location}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise UserError(f"{location}: expected a finite number, got {value!r}")
    return float(value)


def check_seed(value: object, location: str) -> int:
    """Return ``value`` as a random seed (an integer 0 .. 2**32 - 1) or raise :class:`UserError` at ``location``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{location}: expected an integer seed, got {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise UserError(f"{location}: expected a seed from 0 to {MAX_SEED}, got {value}")
    return value
