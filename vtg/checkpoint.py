"""Checkpoint files: written atomically, carrying everything needed to rebuild and judge the model.

A checkpoint is Lightning's own dictionary (``state_dict`` with the model's weights under the prefix
``model.``, optimizer and scheduler states, loop and callback states for resuming) plus one entry of ours::

    checkpoint["vtg"] = {
        "format": "vtg-checkpoint", "format_version": 1,
        "model_name": "spikingvtg", "model_config": {...},     # the ``model:`` section without ``name``
        "dims": {"video_dim": ..., "text_dim": ..., "video_levels": ..., "text_levels": ...},
        "train_config": {...}, "versions": {"torch": ..., "lightning": ..., "numpy": ..., "vtg": ...},
        "metrics": {"MR-full-mAP": ..., ...},                  # the val metrics when it was written
        "splits": {"train": "train", "val": "val"},            # a training run's data splits (since session 22)
    }

Files are written to a temporary file in the same folder, flushed to disk, then renamed over the target
(``os.replace`` is atomic within one file system), so a crash never leaves a partial ``last.ckpt`` and the
previous one survives. :func:`load_model` is the one way to rebuild a model from a checkpoint.

This module imports neither Lightning nor the training engine, so that ``vtg-export``, the Lava
simulation and ``vtg energy`` read checkpoints without them; the engine's
:class:`vtg.engine.checkpoint.AtomicCheckpointIO` plugs :func:`atomic_save` and :func:`load_plain` into
Lightning, whose ``ModelCheckpoint`` and resume machinery stay in charge of training runs.

Checkpoints come from strangers too (released teachers, shared runs), so they are data, never code: a
pickle can carry any callable to run at load time, and ``torch.load`` runs it unless
``weights_only=True``. Every checkpoint is therefore written as *plain data* (dicts, lists, tuples,
``str``, ``int``, ``float``, ``bool``, ``None``, tensors, ``OrderedDict``: :func:`plain_data`, checked
by :func:`atomic_save`) and read with ``weights_only=True`` (:func:`load_plain`, the one reader, also
under Lightning's resume); a file that needs more is refused in one line.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import pickle
import platform
import zipfile
from collections import OrderedDict
from pathlib import Path, PurePath
from typing import Any

import numpy
import torch

from vtg.atomic import atomic_write
from vtg.errors import UserError

FORMAT = "vtg-checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "vtg"
# the LightningModule holds the model as ``self.model``, so its weights are saved under this prefix
MODEL_PREFIX = "model."
DIM_NAMES = ("video_dim", "text_dim", "video_levels", "text_levels")
# vtg distill's run checkpoints (last.ckpt, best.ckpt) hold the student, the frozen teacher and CLRM's
# projections together, the student under this prefix; the student alone is written to student.ckpt
DISTILL_RUN_PREFIX = MODEL_PREFIX + "student."


def package_versions() -> dict[str, str]:
    """Versions of what shapes a checkpoint: Python, torch, lightning, numpy and this toolkit.

    Lightning's is read from its installed metadata rather than by importing it (the version its
    ``__version__`` gives), so that writing a checkpoint outside training (``vtg teacher import``)
    does not load the training stack.
    """
    import vtg

    # str(): torch.__version__ is a TorchVersion, a str subclass that weights_only loading refuses
    return {
        "python": str(platform.python_version()),
        "torch": str(torch.__version__),
        "lightning": importlib.metadata.version("lightning"),
        "numpy": str(numpy.__version__),
        "vtg": str(vtg.__version__),
    }


def checkpoint_metadata(
    model_name: str,
    model_config: dict[str, Any],
    dims: dict[str, int],
    train_config: dict[str, Any],
    metrics: dict[str, float],
    splits: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ``checkpoint["vtg"]`` entry (see the module docstring), as plain data; ``splits``, the data splits a
    training run reads (``train``, ``val``), when it is one."""
    return plain_data(
        {
            **({"splits": dict(splits)} if splits else {}),
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_name": model_name,
            "model_config": dict(model_config),
            "dims": {name: int(dims[name]) for name in DIM_NAMES},
            "train_config": dict(train_config),
            "versions": package_versions(),
            "metrics": {name: float(value) for name, value in metrics.items()},
        }
    )


def plain_data(value: Any, where: str = "checkpoint") -> Any:
    """``value`` as the plain data ``torch.load(weights_only=True)`` accepts (see the module docstring).

    Dataclasses become dicts, paths strings, subclasses of ``str``/``int``/``float`` (``TorchVersion``,
    numpy scalars) and of ``dict`` (Lightning's ``AttributeDict``) their base type, numpy arrays tensors.
    Anything else is a programming error, a ``TypeError`` naming where it sits (``where``), raised while
    writing rather than when someone tries to read the file back.
    """
    if value is None or type(value) in (bool, int, float, str, torch.Tensor, torch.nn.Parameter):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, bool | numpy.bool_):
        return bool(value)
    if isinstance(value, int | numpy.integer):
        return int(value)
    if isinstance(value, float | numpy.floating):
        return float(value)
    if isinstance(value, str | PurePath):
        return str(value)
    if isinstance(value, numpy.ndarray) and value.dtype.kind in "biuf":
        return torch.from_numpy(value.copy())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        # OrderedDict stays one (state dicts are); other dict subclasses become dicts
        kind = OrderedDict if isinstance(value, OrderedDict) else dict
        return kind((plain_data(key, where), plain_data(item, f"{where}[{key!r}]")) for key, item in value.items())
    if isinstance(value, list | tuple):
        items = [plain_data(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"{where}: {type(value).__module__}.{type(value).__qualname__} is not plain data")


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(plain_data(obj), path)`` atomically: a failure midway leaves ``path`` as it was."""
    obj = plain_data(obj)
    atomic_write(path, lambda file: torch.save(obj, file))


# what torch.load raises on a file that is not a readable torch archive (truncated, another format)
READ_ERRORS = (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError, KeyError, AttributeError)


def refuse_torchscript(path: Path, expected: str) -> None:
    """A :class:`UserError` when ``path`` is a TorchScript archive: ``torch.load`` hands one to
    ``torch.jit.load``, which runs its code, whatever ``weights_only`` or ``pickle_module`` say."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("constants.pkl") for name in archive.namelist()):
                raise UserError(f"{path}: refused: a TorchScript archive, not a {expected}")


def load_plain(path: str | Path, what: str = "checkpoint", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: plain data only, nothing in the file is ever run.

    A file that needs more (a pickled object or callable, a TorchScript archive) or that is not a
    readable torch file is a one-line :class:`UserError` naming ``path`` and ``what`` it should be.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        refuse_torchscript(path, f"{what} of plain data")
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message: a long advice, then "WeightsUnpickler error: <what was refused>"
        reason = " ".join(str(error).rsplit("WeightsUnpickler error:", 1)[-1].split())
        raise UserError(
            f"{path}: refused: not a {what} of plain data (tensors, numbers, strings, lists, dicts); "
            f"reading it as Python objects could run code ({reason})"
        ) from None
    except READ_ERRORS as error:
        message = " ".join(str(error).split())  # one line
        raise UserError(f"{path}: not a readable {what} ({type(error).__name__}: {message})") from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU and check that it is one of ours; any problem is one :class:`UserError`."""
    path = Path(path)
    checkpoint = load_plain(path, "checkpoint")
    metadata = checkpoint.get(METADATA_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise UserError(f"{path}: not a vtg checkpoint (no '{METADATA_KEY}' entry of format '{FORMAT}')")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path}: checkpoint format version {metadata.get('format_version')!r}, this toolkit reads {FORMAT_VERSION}"
        )
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"{path}: checkpoint has no 'state_dict'")
    check_metadata(path, metadata)
    return checkpoint


# the metadata fields every reader relies on, and their types (the rest is informative)
METADATA_FIELDS = {"model_name": str, "model_config": dict, "dims": dict, "train_config": dict, "metrics": dict}


def check_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """A :class:`UserError` naming the field when the ``vtg`` entry lacks what rebuilding the model needs."""
    for name, kind in METADATA_FIELDS.items():
        if not isinstance(metadata.get(name), kind):
            got = type(metadata[name]).__name__ if name in metadata else "missing"
            raise UserError(f"{path}: field '{METADATA_KEY}.{name}': expected a {kind.__name__}, got {got}")
    for name in DIM_NAMES:
        value = metadata["dims"].get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{path}: field '{METADATA_KEY}.dims.{name}': expected a positive integer, got {value!r}")
    if not isinstance(metadata.get("versions", {}), dict):
        raise UserError(f"{path}: field '{METADATA_KEY}.versions': expected a dict")


def check_weights(path: Path, model: torch.nn.Module, state: dict[str, Any]) -> None:
    """A :class:`UserError` naming the first weight of ``state`` that is not a tensor of ``model``'s shape,
    or that holds NaN or inf (a diverged run's checkpoint would write NaN predictions and blame the data)."""
    expected = model.state_dict()
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise UserError(f"{path}: weight '{name}': expected a tensor, got {type(value).__name__}")
        if name in expected and tuple(value.shape) != tuple(expected[name].shape):
            raise UserError(
                f"{path}: weight '{name}': shape {tuple(value.shape)} does not fit the model built from the "
                f"checkpoint's config ({tuple(expected[name].shape)})"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = "NaN" if bool(torch.isnan(value).any()) else "inf"
            raise UserError(f"{path}: weight '{name}': contains {bad}")


def is_distill_run(checkpoint: dict[str, Any]) -> bool:
    """Whether ``checkpoint`` (as :func:`read_checkpoint` returns it) is a vtg distill run's own checkpoint."""
    return any(key.startswith(DISTILL_RUN_PREFIX) for key in checkpoint["state_dict"])


def model_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's own weights: Lightning's ``state_dict`` entries under :data:`MODEL_PREFIX`, prefix removed."""
    state = checkpoint["state_dict"]
    return {key[len(MODEL_PREFIX) :]: value for key, value in state.items() if key.startswith(MODEL_PREFIX)}


def load_model(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model saved in ``path`` (in eval mode, on the CPU); return it and the checkpoint dict."""
    from vtg.models import build_model

    checkpoint = read_checkpoint(path)
    metadata = checkpoint[METADATA_KEY]
    if is_distill_run(checkpoint):
        raise UserError(
            f"{path}: the checkpoint of a vtg distill run (student, teacher and CLRM together); "
            f"the student is {Path(path).with_name('student.ckpt')}"
        )
    try:
        model = build_model(metadata["model_name"], metadata["model_config"], metadata["dims"])
    except UserError as error:
        # the checkpoint's own config is at fault (written by another version, or edited)
        raise UserError(f"{path}: in the checkpoint's config: {error}") from None
    state = model_state_dict(checkpoint)
    check_weights(Path(path), model, state)
    missing, unexpected = model.load_state_dict(state, strict=False)
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
