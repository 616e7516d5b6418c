"""``.npz`` feature files: a checked reader and a byte-for-byte deterministic writer.

``np.savez`` stamps each zip member with the current time, so two runs with the same data differ;
:func:`write_npz` writes the same members with a fixed date, uncompressed, in a fixed order.
"""

from __future__ import annotations

import tokenize
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vtg.atomic import atomic_write
from vtg.errors import UserError, check_finite

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
# what numpy raises on a damaged .npy or .npz: numpy tokenises and parses a .npy header as a Python literal,
# so a corrupt header raises tokenize.TokenError or SyntaxError besides the usual ValueError
NPY_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, SyntaxError, tokenize.TokenError)


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` as an ``.npz`` readable by ``np.load``, identical bytes for identical arrays."""

    def write(handle: BinaryIO) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_DATE_TIME)
                info.external_attr = 0o644 << 16  # a plain file with rw-r--r--, not the platform's default
                with archive.open(info, "w") as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)

    atomic_write(path, write)


def read_npz_array(path: Path, key: str, ndims: tuple[int, ...], what: str, needed_by: str = "") -> np.ndarray:
    """Read array ``key`` of ``path`` as float32, checking existence, key, dtype, rank and finiteness.

    ``what`` names the file's role ("video feature file") and ``needed_by`` the annotation line that
    asked for it, so that a missing file's message says which line to fix.
    """
    suffix = f" (needed by {needed_by})" if needed_by else ""
    if not path.is_file():
        raise UserError(f"{path}: {what} not found{suffix}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if key not in archive.files:
                raise UserError(f"{path}: no array '{key}' in {what} (has: {', '.join(archive.files) or 'nothing'})")
            array = archive[key]
    except UserError:
        raise
    except NPY_READ_ERRORS as error:
        reason = " ".join(str(error).split()) or type(error).__name__  # one line
        raise UserError(f"{path}: cannot read {what} ({reason})") from None
    if array.dtype.kind != "f":
        raise UserError(f"{path}: array '{key}' has dtype {array.dtype}, expected floating point")
    if array.ndim not in ndims:
        expected = " or ".join(f"{n}-D" for n in ndims)
        raise UserError(f"{path}: array '{key}' has shape {array.shape}, expected {expected}")
    if array.size == 0:
        raise UserError(f"{path}: array '{key}' is empty (shape {array.shape})")
    check_finite(array, f"{path}: array '{key}'")
    # and again after the cast: a float64 1e300 is finite, and inf once it is the models' float32
    with np.errstate(over="ignore"):  # the overflow is reported just below, as one line naming the file
        array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise UserError(f"{path}: array '{key}': values beyond float32's range (they become inf in the model)")
    return array
