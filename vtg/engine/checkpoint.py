"""Lightning's side of checkpoint files: the ``CheckpointIO`` plugin of training runs, and the callback that
writes ``best.ckpt`` and ``last.ckpt``.

The checkpoint format, its atomic writer and its safe reader live in :mod:`vtg.checkpoint`, which imports
no Lightning; this plugin hands Lightning's saving and resuming to them, so that a run's ``last.ckpt`` and
``best.ckpt`` are written whole and read as plain data like every other checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

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


def saved_folder(checkpoint: dict[str, Any]) -> str | None:
    """The folder the run that wrote ``checkpoint`` kept its checkpoints in (its ModelCheckpoint state), if said."""
    for key, state in checkpoint.get("callbacks", {}).items():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, dict) and "dirpath" in state:
            return str(state["dirpath"])
    return None


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` whose state follows its run folder: resumed from a copy or a move of the
    folder (``best.ckpt`` with it), it keeps the best score. Lightning drops the score when the saved folder
    differs, and the next epoch then became ``best.ckpt`` whatever it scored."""

    @property
    def state_key(self) -> str:
        """ModelCheckpoint's key: the checkpoints of runs before this class resume into it, and the reverse."""
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old is not None and self.dirpath is not None and old != self.dirpath:

            def moved(path: str) -> str:  # the same file name in this run's folder
                return os.path.join(self.dirpath, os.path.basename(path)) if path else path

            state_dict = {
                **state_dict,
                "dirpath": self.dirpath,
                **{key: moved(state_dict.get(key, "")) for key in ("best_model_path", "kth_best_model_path")},
                "last_model_path": moved(state_dict.get("last_model_path", "")),
                "best_k_models": {moved(path): value for path, value in state_dict.get("best_k_models", {}).items()},
            }
        super().load_state_dict(state_dict)
