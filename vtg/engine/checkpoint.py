"""Checkpoint files: written atomically, carrying everything needed to rebuild and judge the model.

A checkpoint is Lightning's own dictionary (``state_dict`` with the model's weights under the prefix
``model.``, optimizer and scheduler states, loop and callback states for resuming) plus one entry of ours::

    checkpoint["vtg"] = {
        "format": "vtg-checkpoint", "format_version": 1,
        "model_name": "spikingvtg", "model_config": {...},     # the ``model:`` section without ``name``
        "dims": {"video_dim": ..., "text_dim": ..., "video_levels": ..., "text_levels": ...},
        "train_config": {...}, "versions": {"torch": ..., "lightning": ..., "numpy": ..., "vtg": ...},
        "metrics": {"MR-full-mAP": ..., ...},                  # the val metrics when it was written
    }

Files are written to a temporary file in the same folder, flushed to disk, then renamed over the target
(``os.replace`` is atomic within one file system), so a crash never leaves a partial ``last.ckpt`` and the
previous one survives. :class:`AtomicCheckpointIO` plugs this into Lightning, whose ``ModelCheckpoint`` and
resume machinery stay in charge. :func:`load_model` is the one way to rebuild a model from a checkpoint.
"""

from __future__ import annotations

import pickle
import platform
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from vtg.engine.atomic import atomic_write
from vtg.errors import UserError

FORMAT = "vtg-checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "vtg"
# the LightningModule holds the model as ``self.model``, so its weights are saved under this prefix
MODEL_PREFIX = "model."
DIM_NAMES = ("video_dim", "text_dim", "video_levels", "text_levels")


def package_versions() -> dict[str, str]:
    """Versions of what shapes a checkpoint: Python, torch, lightning, numpy and this toolkit."""
    import lightning
    import numpy

    import vtg

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "vtg": vtg.__version__,
    }


def checkpoint_metadata(
    model_name: str,
    model_config: dict[str, Any],
    dims: dict[str, int],
    train_config: dict[str, Any],
    metrics: dict[str, float],
) -> dict[str, Any]:
    """The ``checkpoint["vtg"]`` entry (see the module docstring)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "model_config": dict(model_config),
        "dims": {name: int(dims[name]) for name in DIM_NAMES},
        "train_config": dict(train_config),
        "versions": package_versions(),
        "metrics": {name: float(value) for name, value in metrics.items()},
    }


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` atomically: a failure midway leaves ``path`` as it was."""
    atomic_write(path, lambda file: torch.save(obj, file))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``CheckpointIO`` for local files, writing each checkpoint with :func:`atomic_save`."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        atomic_save(checkpoint, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU and check that it is one of ours; any problem is one :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as error:
        raise UserError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    metadata = checkpoint.get(METADATA_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise UserError(f"{path}: not a vtg checkpoint (no '{METADATA_KEY}' entry of format '{FORMAT}')")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path}: checkpoint format version {metadata.get('format_version')!r}, this toolkit reads {FORMAT_VERSION}"
        )
    if "state_dict" not in checkpoint:
        raise UserError(f"{path}: checkpoint has no 'state_dict'")
    return checkpoint


def model_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's own weights: Lightning's ``state_dict`` entries under :data:`MODEL_PREFIX`, prefix removed."""
    state = checkpoint["state_dict"]
    return {key[len(MODEL_PREFIX) :]: value for key, value in state.items() if key.startswith(MODEL_PREFIX)}


def load_model(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model saved in ``path`` (in eval mode, on the CPU); return it and the checkpoint dict."""
    from vtg.models import build_model

    checkpoint = read_checkpoint(path)
    metadata = checkpoint[METADATA_KEY]
    model = build_model(metadata["model_name"], metadata["model_config"], metadata["dims"])
    missing, unexpected = model.load_state_dict(model_state_dict(checkpoint), strict=False)
    if missing or unexpected:
        # weights that do not fit the model built from the checkpoint's own config: a checkpoint of an
        # older or edited model definition
        kinds = (("missing", missing), ("unexpected", unexpected))
        problems = [f"{kind} {', '.join(keys[:3])}" for kind, keys in kinds if keys]
        raise UserError(f"{path}: weights do not fit model '{metadata['model_name']}' ({'; '.join(problems)})")
    model.eval()
    return model, checkpoint


def format_dims(dims: dict[str, int]) -> str:
    """``video_dim=..., text_dim=..., video_levels=..., text_levels=...``."""
    return ", ".join(f"{name}={dims[name]}" for name in DIM_NAMES)


def check_dims(checkpoint_path: str | Path, checkpoint_dims: dict[str, int], data: str | Path, data_dims: dict) -> None:
    """A :class:`UserError` naming both sets of dims when the data's do not match the checkpoint's."""
    if any(int(checkpoint_dims[name]) != int(data_dims[name]) for name in DIM_NAMES):
        raise UserError(
            f"{data}: data dims ({format_dims(data_dims)}) do not fit checkpoint {checkpoint_path} "
            f"({format_dims(checkpoint_dims)})"
        )
