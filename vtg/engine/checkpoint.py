"""Lightning's side of checkpoint files: the ``CheckpointIO`` plugin of training runs.

The checkpoint format, its atomic writer and its safe reader live in :mod:`vtg.checkpoint`, which imports
no Lightning; this plugin hands Lightning's saving and resuming to them, so that a run's ``last.ckpt`` and
``best.ckpt`` are written whole and read as plain data like every other checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from vtg.checkpoint import atomic_save, load_plain


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``CheckpointIO`` for local files, writing each checkpoint with :func:`atomic_save`."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> Any:
        """Lightning's resume reads through here: always :func:`load_plain`, whatever ``weights_only`` says."""
        return load_plain(path, "checkpoint", map_location="cpu" if map_location is None else map_location)
