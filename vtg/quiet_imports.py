"""Imports that would otherwise print a notice that is not ours.

``torch.utils.cpp_extension`` prints "No CUDA runtime is found, using CUDA_HOME=..." on stderr when it is
imported on a machine that has nvcc but no GPU. Brevitas and onnxruntime import it; the notice would
break the one-line errors and the clean ``--json`` output of our commands. Importing it once here, with
stderr captured, leaves Python's module cache holding it, so later imports print nothing.
"""

from __future__ import annotations

import contextlib
import io


def import_cpp_extension_quietly() -> None:
    """Import ``torch.utils.cpp_extension`` with its CUDA notice swallowed (see the module docstring)."""
    with contextlib.redirect_stderr(io.StringIO()):
        import torch.utils.cpp_extension  # noqa: F401
