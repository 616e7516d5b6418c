"""Output files and folders: checked before any work, written whole or not at all, never left half-written.

Every command that writes goes through this module (it imports nothing heavier than the standard library,
so ``export``, ``hw_sim`` and ``energy`` use it without the Lightning engine):

- :func:`check_output` at the start of a command: the ``--out`` path can be written as the kind of thing
  asked for (a file where a file is meant, a folder where a folder is meant, under a writable folder), and
  the temporaries a killed run left there are removed (:func:`remove_stale_temporaries`);
- :func:`atomic_write` (and :func:`atomic_write_text`) for one file: a temporary file in the same folder,
  flushed to disk, then renamed over the target;
- :func:`atomic_folder` for a folder of outputs (a Lava bundle, pooled features, a synthetic dataset, a
  simulation's results): everything is written into a temporary folder beside the target, which is moved
  into place only when the whole job succeeded.

Temporaries are named ``.{name}.{pid}.tmp`` beside their target, so a later run can tell a killed run's
leftovers (their process is gone) from the live temporaries of a concurrent one (e.g. another DDP rank).
A failed write (a full disk, a read-only file system) is a :class:`~vtg.errors.UserError` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from vtg.errors import UserError

# ".last.ckpt.1234.tmp": the temporary of "last.ckpt" written by process 1234
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.tmp$")
KINDS = ("file", "folder")
# what a failed write says whatever the file: no space, no quota, a read-only file system, a file too large
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def temporary_path(path: Path) -> Path:
    """The temporary beside ``path`` that this process writes before renaming it to ``path`` (``.`` and
    ``..`` by the names they stand for: an output in the current folder has a temporary beside it too)."""
    path = Path(os.path.abspath(path))
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_error(path: Path, error: OSError) -> UserError:
    """The one-line error of a failed write of ``path`` (a full disk, a read-only or vanished folder)."""
    # a file inside a temporary folder is named by where it was going: ".out.123.tmp/x.npz" is "out/x.npz"
    path = Path(*[_final(part) for part in Path(path).parts])
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += "; free some space and run again"
    return UserError(f"{path}: cannot write ({reason})")


def _final(name: str) -> str:
    """The name a temporary ``.{name}.{pid}.tmp`` stands for (other names as they are)."""
    match = TEMPORARY.match(name)
    return match["name"] if match else name


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts: we may not signal it, but it lives)."""
    if pid == os.getpid():
        # a temporary of ours found before we wrote anything is a leftover of an earlier process with our pid
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the ``.{name}.{pid}.tmp`` files and folders in ``folder`` whose process is gone; return them.

    These are what a run killed midway (``kill -9``, a power cut) left behind; a live process's temporaries
    are kept, since it is still writing them.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = TEMPORARY.match(entry.name)
        if match is None or _alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def check_output(
    path: str | Path, kind: str, option: str = "--out", inputs: dict[str, str | Path | None] | None = None
) -> Path:
    """``path`` as a :class:`Path` once it is known that a ``kind`` ("file" or "folder") can be written there.

    Refused with a :class:`UserError` naming ``option``: an existing folder where a file is meant and the
    reverse, a path under an existing file, a nearest existing folder that is not writable, a file that is
    one of the command's ``inputs`` (option -> path: writing there would replace what the command reads).
    Folders that do not exist yet are created when written. The stale temporaries of killed runs beside
    ``path`` (and inside it, for a folder) are removed here, so that the next run of any command cleans up
    after the last one.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(path)
    where = f"option {option}: {path}"
    if kind == "file" and path.is_dir():
        raise UserError(f"{where}: is a folder, expected a file to write")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise UserError(f"{where}: is a file, expected a folder to write into")
    if kind == "file" and path.name in ("", ".", ".."):
        raise UserError(f"{where}: names a folder, expected a file to write")
    for name, given in (inputs or {}).items():
        if (
            kind == "file"
            and given is not None
            and path.exists()
            and os.path.exists(given)
            and os.path.samefile(path, given)
        ):
            raise UserError(f"{where}: is the file given to {name}; write the result elsewhere")
    ancestor = path.parent if kind == "file" or not path.exists() else path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{where}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{where}: folder {ancestor} is not writable")
    remove_stale_temporaries(path.parent if path.parent.exists() else ancestor)
    if kind == "folder":
        remove_stale_temporaries(path)
    return path


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file, then rename it to ``path`` (``os.replace``).

    Readers see either the old file or the complete new one. On any failure (Ctrl-C included) the
    temporary file is removed and ``path`` keeps its old content; a failure to write (``OSError``: a full
    disk, a read-only folder) is a :class:`UserError` naming ``path``.
    """
    path = Path(path)
    # the same folder as the target, because os.replace is atomic only within one file system
    temporary = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError) and not isinstance(error, BrokenPipeError):
            raise write_error(path, error) from error
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda file: file.write(text.encode("utf-8")))


def _move_into(source: Path, target: Path) -> None:
    """Move folder ``source`` to ``target``: a rename when ``target`` does not exist, else entry by entry
    (each an atomic ``os.replace``), so that files of ``target`` that the job did not write are kept."""
    if not target.exists():
        os.rename(source, target)
        return
    for entry in sorted(source.iterdir()):
        destination = target / entry.name
        if entry.is_dir() and destination.is_dir():
            _move_into(entry, destination)
        else:
            if destination.is_dir():
                shutil.rmtree(destination)  # a file now takes the place of an old folder of the same name
            os.replace(entry, destination)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder to write ``path``'s contents into; moved into place when the block ends well.

    ``with atomic_folder(out) as folder: ...`` writes under ``folder`` (``.{out.name}.{pid}.tmp`` beside
    ``out``). When the block succeeds, ``folder`` becomes ``out`` (a rename), or, when ``out`` already
    exists, its entries replace those of the same name in ``out``. When it fails (an error, Ctrl-C, a full
    disk), the temporary folder is removed and ``out`` is as it was: a job never leaves part of its output.
    """
    path = Path(path)
    temporary = temporary_path(path)
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    except OSError as error:
        raise write_error(path, error) from error
    try:
        yield temporary
        _move_into(temporary, path)
    except OSError as error:
        # an error of the writing (a full disk, or on a file of ours); any other (an input the job read) is
        # the caller's to report
        ours = str(error.filename or "").startswith(str(temporary)) or str(error.filename or "") == str(path)
        if error.errno in WRITE_ERRORS or ours:
            raise write_error(path, error) from error
        raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
