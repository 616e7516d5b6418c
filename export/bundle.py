"""The Lava bundle: a versioned, self-describing folder holding an exported SpikingVTG model.

::

    BUNDLE/
      manifest.json        format, format_version, architecture, tc, neuron, quantization,
                           fixed_point (formats and integer scalars; null for NF), float (scalars),
                           tensors: {"<precision>/<name>": {file, shape, dtype, sha256}}
      fixed/<name>.npy     integer weights of the 1-bit NF model (export/fixed_point.py)
      float/<name>.npy     floating-point weights (effective beta sgn(.) for 1-bit layers)

:func:`read_bundle` checks everything before anything runs, and every reader goes through it: the
manifest's schema (maps, typed fields in range, architecture agreeing with ``model_config``), the bit
widths (those of this toolkit's integer model), every scalar the architecture needs, every weight file
the architecture needs (inside the folder, its sha256, shape and dtype as the architecture says, a
plain ``.npy`` never unpickled). Each problem is one :class:`UserError` naming the file and field.

Version 2 added the firing point (``model.fire_ratio``): ``float.fire_ratio`` and, in fixed point, an
integer ``<population>.fire`` beside every ``<population>.threshold``. Version 3 added the host input
layers (``architecture.host_input_layers``, their weights ``float/host.*``; export/host_input.py). An
older bundle is refused with a request to re-export it rather than read with guessed fields.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from export import fixed_point as fp
from export.host_input import apply_host_input, host_shapes
from export.model_map import layer_shapes
from spiking.config import SpikingVTGConfig, host_input_layers
from spiking.populations import readout_convolutions
from vtg.atomic import atomic_folder, atomic_write, atomic_write_text
from vtg.data.npz import NPY_READ_ERRORS
from vtg.digest import sha256
from vtg.errors import UserError, where
from vtg.json_file import read_json_object, to_json

FORMAT = "vtg-lava-bundle"
# 2: the firing point (float.fire_ratio, .fire); 3: the host input layers (host_input_layers); 4: the decoders'
# warm-up (decoder_warmup); 5: the warm-up's steps rounded up, ceil(w Tc) (spiking.config.decoder_warmup_steps),
# and the first step's gate (initial_gate); 6: rate-driven input and intermediate currents (rate_driven)
FORMAT_VERSION = 6
MANIFEST = "manifest.json"
# vtg simulate's default output folders inside a bundle (hw_sim/simulate_command.py): results of its weights
SIMULATION_PREFIX = "simulation_"
PRECISIONS = ("fixed", "float")


@dataclasses.dataclass
class Bundle:
    """A read and verified bundle."""

    path: Path
    manifest: dict[str, Any]
    arrays: dict[str, dict[str, np.ndarray]]  # precision -> name -> array

    @property
    def architecture(self) -> dict[str, Any]:
        return self.manifest["architecture"]

    @property
    def precisions(self) -> list[str]:
        return sorted(self.arrays)

    def parameters(self, precision: str) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
        """(arrays, scalars, architecture) of one precision, as the Lava processes take them."""
        if precision not in self.arrays:
            raise UserError(
                f"{self.path / MANIFEST}: no {precision!r} weights in this bundle (it has {', '.join(self.precisions)})"
            )
        scalars = self.manifest["fixed_point"]["scalars"] if precision == "fixed" else self.manifest["float"]
        return self.arrays[precision], scalars, self.architecture

    def host_input(self, video: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Real features (Lv, Dv), (Lq, Dt) -> what enters the network: the host input layers applied in
        float64 (export/host_input.py; the features themselves without ``model.input_mlp``)."""
        layers, arrays = self.architecture["host_input_layers"], self.arrays["float"]
        return apply_host_input(arrays, layers, "video", video), apply_host_input(arrays, layers, "text", text)


def write_bundle(out: Path, manifest: dict[str, Any], arrays: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write weights and the manifest (with their shapes and sha256) into ``out``; return the manifest's path.

    Everything is written into a temporary folder first and moved into place at the end
    (:func:`vtg.atomic.atomic_folder`), so that a failed export (a full disk, Ctrl-C) leaves no partial
    bundle; the manifest is written last, so that a folder with a manifest is complete. Before the move the
    bundle is read back as every reader reads it (:func:`read_bundle`): a checkpoint whose integer model does
    not fit (a threshold beyond the 24-bit state, from a tiny weight scale) fails here, not in ``vtg simulate``.
    A bundle written over an older one replaces it: the old weight files the new manifest does not list and
    the old ``simulation_*`` results (of the weights replaced) are removed once the new bundle is in place.
    """
    replaced = is_bundle(out)
    with atomic_folder(out) as folder:
        tensors = {}
        for precision, named in arrays.items():
            (folder / precision).mkdir(exist_ok=True)
            for name, array in named.items():
                relative = f"{precision}/{name}.npy"
                atomic_write(folder / relative, lambda file, array=array: np.save(file, array, allow_pickle=False))
                tensors[f"{precision}/{name}"] = {
                    "file": relative,
                    "shape": list(array.shape),
                    "dtype": str(array.dtype),
                    "sha256": sha256(folder / relative),
                }
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "tensors": tensors}
        atomic_write_text(folder / MANIFEST, to_json(manifest, indent=1, sort_keys=True))
        try:
            read_bundle(folder)
        except UserError as error:
            raise UserError(f"{out}: not written, the export is not a bundle this toolkit reads ({error})") from None
    if replaced:
        remove_stale(out, {out / entry["file"] for entry in tensors.values()})
    return out / MANIFEST


def is_bundle(folder: Path) -> bool:
    """Whether ``folder`` holds a Lava bundle's manifest (of any version), not some other ``manifest.json``."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def remove_stale(out: Path, listed: set[Path]) -> None:
    """Remove what an older bundle in ``out`` leaves beside the new one: weight files not in ``listed`` and
    vtg simulate's results (``simulation_*``, of the weights replaced); each named on stderr, and one that cannot
    be removed is said and left (the new bundle is in place either way)."""
    stale = [file for precision in PRECISIONS for file in (out / precision).glob("*.npy") if file not in listed]
    stale += [path for path in out.glob(f"{SIMULATION_PREFIX}*") if path.is_dir() or path.is_symlink()]
    for path in stale:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()  # a file, or a link (never what it points to)
            print(f"vtg-export: removed {path} (of the bundle this one replaces)", file=sys.stderr)
        except OSError as error:
            print(f"vtg-export: could not remove {path} ({error.strerror or error}), left as it is", file=sys.stderr)


def read_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle folder as a whole; any inconsistency is a one-line :class:`UserError`.

    This is the one check every reader goes through (``vtg simulate``, the references, benchmarks),
    and it runs before any Lava process starts: a Lava process model that meets a missing weight or a
    shape it did not expect fails inside its own OS process, where the runtime waits for it forever.
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    manifest = read_json_object(manifest_path, f"not found (is {path} a bundle written by vtg-export --target lava?)")
    check = _ManifestCheck(manifest_path)
    if manifest.get("format") != FORMAT:
        check.fail("format", f"expected {FORMAT!r}, got {manifest.get('format')!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        check.fail(
            "format_version",
            f"this toolkit reads version {FORMAT_VERSION}, got {manifest.get('format_version')!r}; "
            "re-export the checkpoint with vtg-export --target lava",
        )
    for field in ("architecture", "model_config", "tensors", "tc", "float"):
        if field not in manifest:
            check.fail(field, "missing")
    config = built_config(check, manifest["model_config"])  # read once, for both checks below
    arch = check_architecture(check, manifest["architecture"], config)
    check.integer("tc", manifest["tc"], low=1)
    fixed = manifest.get("fixed_point")
    if arch["variant"] == "1bit_nf" and fixed is None:
        check.fail("fixed_point", "missing (a 1bit_nf bundle carries its integer model)")
    if arch["variant"] != "1bit_nf" and fixed is not None:
        check.fail("fixed_point", f"expected null: variant {arch['variant']!r} has no integer model (only 1bit_nf)")
    fire_ratio = check_float_scalars(check, manifest["float"], config)
    if fixed is not None:
        check.mapping("fixed_point", fixed)
        check_formats(check, fixed.get("formats"))
        check_fixed_scalars(check, fixed.get("scalars"), arch, fire_ratio)
    precisions = ["float"] + (["fixed"] if fixed is not None else [])
    arrays = read_tensors(path, check, manifest["tensors"], arch, precisions, fixed)
    return Bundle(path, manifest, arrays)


class _ManifestCheck:
    """Type and range checks of manifest fields, each failure one :class:`UserError` naming the field."""

    def __init__(self, manifest_path: Path) -> None:
        self.path = manifest_path

    def fail(self, field: str, problem: str) -> None:
        raise UserError(f"{where(self.path, field=field)}: {problem}")

    def mapping(self, field: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"expected a mapping, got {type(value).__name__}")
        return value

    def integer(self, field: str, value: Any, low: int | None = None, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"expected an integer, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(field, f"expected an integer in [{low}, {high}], got {value}")
        return value

    def number(self, field: str, value: Any, low: float | None = None, high: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(field, f"expected a finite number, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(field, f"expected a number in [{low}, {high}], got {value}")
        return float(value)

    def choice(self, field: str, value: Any, choices: tuple[Any, ...]) -> Any:
        if isinstance(value, bool) != isinstance(choices[0], bool) or value not in choices:
            self.fail(field, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value


# architecture field -> (kind, arguments) of its check; every one must agree with ``model_config``
_ARCHITECTURE = {
    "name": ("choice", ("spikingvtg",)),
    "variant": ("choice", ("nf", "1bit_nf")),  # base has no Lava mapping (export/lava_target.py)
    "hidden_dim": ("integer", (1, None)),
    "num_layers": ("integer", (1, None)),
    "num_heads": ("integer", (1, None)),
    "ffn_dim": ("integer", (1, None)),
    "activation": ("choice", ("gelu", "relu")),
    "sfg": ("choice", (True, False)),
    "f_layers": ("integer", (1, None)),
    "f_kernel": ("integer", (1, None)),
    "d_layers": ("integer", (1, None)),
    "d_kernel": ("integer", (1, None)),
    "decoder_warmup": ("number", (0.0, 1.0)),
    "initial_gate": ("number", (0.0, 1.0)),
    "rate_driven": ("choice", (True, False)),
    "host_input_layers": ("integer", (0, None)),
    "video_dim": ("integer", (1, None)),
    "text_dim": ("integer", (1, None)),
    "max_clips": ("integer", (1, None)),
    "nms_threshold": ("number", (0.0, 1.0)),
    "max_windows": ("integer", (1, None)),
}


def built_config(check: _ManifestCheck, model_config: Any) -> dict[str, Any]:
    """``model_config`` as the PyTorch reference builds it (every default written out), checked field by field
    by :class:`spiking.config.SpikingVTGConfig` with the manifest named."""
    check.mapping("model_config", model_config)
    try:
        return dataclasses.asdict(SpikingVTGConfig.from_dict(model_config, where="model_config"))
    except UserError as error:
        raise UserError(f"{check.path}: {error}") from None


def check_architecture(check: _ManifestCheck, architecture: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``architecture``, every field typed and in range, consistent with ``config`` (the
    manifest's ``model_config`` as :func:`built_config` reads it, from which the PyTorch reference is rebuilt),
    heads dividing the width, decoder kernels odd."""
    check.mapping("architecture", architecture)
    for field, (kind, arguments) in _ARCHITECTURE.items():
        if field not in architecture:
            check.fail(f"architecture.{field}", "missing")
        value = architecture[field]
        if kind == "choice":
            check.choice(f"architecture.{field}", value, arguments)
        else:
            getattr(check, kind)(f"architecture.{field}", value, *arguments)
        if field in config and config[field] != value:  # the defaults too: a field left out is its default
            check.fail(f"architecture.{field}", f"{value!r}, but model_config.{field} is {config[field]!r}")
    host_layers = host_input_layers(config)
    if architecture["host_input_layers"] != host_layers:
        check.fail(
            "architecture.host_input_layers",
            f"{architecture['host_input_layers']}, but model_config's input_mlp, input_mlp_layers give {host_layers}",
        )
    if architecture["hidden_dim"] % architecture["num_heads"]:
        check.fail(
            "architecture.num_heads",
            f"{architecture['num_heads']} heads do not divide hidden_dim {architecture['hidden_dim']}",
        )
    for head in ("f", "d"):
        if architecture[f"{head}_kernel"] % 2 == 0:
            check.fail(
                f"architecture.{head}_kernel",
                f"expected an odd kernel ('same' padding), got {architecture[f'{head}_kernel']}",
            )
    return architecture


def check_formats(check: _ManifestCheck, formats: Any) -> None:
    """The bit widths and fraction bits are the integer model's own (export/fixed_point.py): the Lava
    models and the integer reference compute with those constants, so a bundle made for others is refused."""
    check.mapping("fixed_point.formats", formats)
    for name, expected in fp.FORMATS.items():
        if name not in formats:
            check.fail(f"fixed_point.formats.{name}", "missing")
        if formats[name] != expected or type(formats[name]) is not type(expected):
            check.fail(
                f"fixed_point.formats.{name}", f"{formats[name]!r}, this toolkit's integer model uses {expected!r}"
            )
    for name in formats.keys() - fp.FORMATS.keys():
        check.fail(f"fixed_point.formats.{name}", "unknown to this toolkit's integer model")


def fixed_scalar_ranges(arch: dict[str, Any]) -> dict[str, tuple[str, float | None, float | None]]:
    """Name -> (kind, low, high) of every scalar of the integer model (export/fixed_point.py
    ``integer_parameters``): integers within the 24-bit state or the leak's 12 bits, read-out scales real;
    a firing point ``.fire`` beside every ``.threshold``."""
    state, leak = fp.STATE_MAX, 1 << fp.LEAK_BITS
    scalars: dict[str, tuple[str, float | None, float | None]] = {
        "leak": ("integer", 0, leak),
        "input.threshold": ("integer", 1, state),
        "input.video.scale": ("integer", 0, None),
        "input.text.scale": ("integer", 0, None),
        "sfg.eps": ("integer", 0, None),
    }
    readouts = set(readout_convolutions(arch).values())
    for key in layer_shapes(arch):
        if key.startswith("input."):
            continue
        if key in readouts:
            scalars[f"{key}.readout_scale"] = ("number", 0.0, None)
        else:
            scalars[f"{key}.threshold"] = ("integer", 1, state)
        if key.endswith((".so", ".out")):
            scalars[f"{key}.residual"] = ("integer", 0, None)
        if key.endswith(".q"):
            scalars[f"{key}.attention_scale"] = ("integer", 0, None)
        if key.endswith(".int") and arch["activation"] == "gelu":
            scalars[f"{key}.gelu_shift"] = ("integer", 0, 62)
            scalars[f"{key}.gelu_offset"] = ("integer", 1, None)
    for i in range(arch["num_layers"]):
        scalars[f"layer{i}.attn.threshold"] = ("integer", 1, state)
    for name in [name for name in scalars if name.endswith(".threshold")]:
        scalars[f"{name.removesuffix('.threshold')}.fire"] = ("integer", 1, state)
    return scalars


def check_fixed_scalars(check: _ManifestCheck, scalars: Any, arch: dict[str, Any], fire_ratio: float) -> None:
    """Every scalar of the architecture, typed and in range, and no other; each firing point the one its
    threshold and ``fire_ratio`` give (export/fixed_point.py ``firing_point``), so that the integer model
    fires where the float model does."""
    check.mapping("fixed_point.scalars", scalars)
    expected = fixed_scalar_ranges(arch)
    for name, (kind, low, high) in expected.items():
        if name not in scalars:
            check.fail(f"fixed_point.scalars.{name}", "missing")
        getattr(check, kind)(f"fixed_point.scalars.{name}", scalars[name], low, high)
    for name in scalars.keys() - expected.keys():
        check.fail(f"fixed_point.scalars.{name}", f"not a scalar of this architecture ({arch['num_layers']} layers)")
    for name in [name for name in expected if name.endswith(".fire")]:
        theta = scalars[f"{name.removesuffix('.fire')}.threshold"]
        if scalars[name] != fp.firing_point(theta, fire_ratio):
            check.fail(
                f"fixed_point.scalars.{name}",
                f"{scalars[name]}, but threshold {theta} at fire_ratio {fire_ratio!r} fires at "
                f"{fp.firing_point(theta, fire_ratio)}",
            )


def check_float_scalars(check: _ManifestCheck, scalars: Any, config: dict[str, Any]) -> float:
    """The float scalars, typed and in range; ``fire_ratio`` in [0.5, 1] (spiking/config.py), and the fire
    ratio, leak and threshold those of ``config`` (:func:`built_config`'s, from which the PyTorch reference is
    rebuilt). Returns the fire ratio."""
    check.mapping("float", scalars)
    for name, low in (("leak", 0.0), ("threshold", 0.0), ("sfg.eps", 0.0), ("sfg.flat", 0.0), ("fire_ratio", 0.0)):
        if name not in scalars:
            check.fail(f"float.{name}", "missing")
        check.number(f"float.{name}", scalars[name], low)
    ratio = scalars["fire_ratio"]
    if not 0.5 <= ratio <= 1.0:
        check.fail("float.fire_ratio", f"expected a number in [0.5, 1], got {ratio!r}")
    for name in ("fire_ratio", "leak", "threshold"):  # the Lava float models read these, the reference the config
        if config[name] != scalars[name]:
            check.fail(f"float.{name}", f"{scalars[name]!r}, but model_config.{name} is {config[name]!r}")
    return float(ratio)


def expected_tensors(arch: dict[str, Any], precision: str, fixed: dict[str, Any] | None) -> dict[str, tuple]:
    """Name -> (shape, dtype) of every weight file of one precision, from the architecture alone."""
    hidden = arch["hidden_dim"]
    tensors: dict[str, tuple] = {}
    for key, shape in layer_shapes(arch).items():
        if precision == "float":
            tensors[f"{key}.weight"], tensors[f"{key}.bias"] = (shape, "float64"), ((shape[0],), "float64")
            continue
        tensors[f"{key}.sign"] = (shape, "int8")
        # the video input's bias holds each clip's position too (export/fixed_point.py)
        bias = (arch["max_clips"], hidden) if key == "input.video" else (shape[0],)
        tensors[f"{key}.bias"] = (bias, "int64")
        if key.endswith(".int") and arch["activation"] == "gelu":
            scalars = fixed["scalars"]
            bins = 2 * scalars[f"{key}.gelu_offset"] >> scalars[f"{key}.gelu_shift"]
            tensors[f"{key}.gelu"] = ((bins,), "int64")
    tensors["sfg.pool"] = ((hidden,), "float64" if precision == "float" else "int64")
    if precision == "float":  # the host computes its input layers in floating point for both precisions
        tensors.update({name: (shape, "float64") for name, shape in host_shapes(arch).items()})
    return tensors


def read_tensors(
    path: Path,
    check: _ManifestCheck,
    entries: Any,
    arch: dict[str, Any],
    precisions: list[str],
    fixed: dict[str, Any] | None,
) -> dict[str, dict[str, np.ndarray]]:
    """Every weight file the architecture needs, and no other: inside the bundle folder, its sha256,
    shape and dtype those of the manifest and of the architecture, loaded without pickles, values sane."""
    check.mapping("tensors", entries)
    expected = {f"{p}/{name}": spec for p in precisions for name, spec in expected_tensors(arch, p, fixed).items()}
    for key in expected.keys() - entries.keys():
        check.fail(f"tensors.{key}", "missing (the architecture needs it)")
    for key in entries.keys() - expected.keys():
        check.fail(f"tensors.{key}", f"not a weight of this architecture and precisions ({', '.join(precisions)})")
    root = path.resolve()
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for key in sorted(expected):
        field, entry = f"tensors.{key}", check.mapping(f"tensors.{key}", entries[key])
        for name, kind in (("file", str), ("shape", list), ("dtype", str), ("sha256", str)):
            if not isinstance(entry.get(name), kind):
                check.fail(f"{field}.{name}", f"expected a {kind.__name__}, got {entry.get(name)!r}")
        shape, dtype = expected[key]
        if entry["shape"] != list(shape) or entry["dtype"] != dtype:
            check.fail(field, f"shape {entry['shape']} {entry['dtype']}, the architecture needs {list(shape)} {dtype}")
        relative = Path(entry["file"])
        try:
            file = (path / relative).resolve()
        except (ValueError, OSError):  # a NUL byte, a name too long for the file system
            check.fail(f"{field}.file", f"{entry['file']!r} is not a file name")
        if relative.is_absolute() or ".." in relative.parts or not file.is_relative_to(root):
            check.fail(f"{field}.file", f"{entry['file']!r} is not a file inside the bundle folder")
        if not file.is_file():
            raise UserError(f"{path / relative}: missing (listed in {check.path})")
        if sha256(file) != entry["sha256"]:
            raise UserError(f"{path / relative}: sha256 does not match {check.path} (the file was changed or damaged)")
        try:
            array = np.load(file, allow_pickle=False)  # a weight file is data: never a pickle
        except NPY_READ_ERRORS as error:
            raise UserError(
                f"{path / relative}: not a readable .npy of numbers ({' '.join(str(error).split())})"
            ) from None
        if not isinstance(array, np.ndarray):  # np.load opens a zip as an .npz archive
            array.close()
            raise UserError(f"{path / relative}: an .npz archive, not the .npy array the manifest lists")
        if list(array.shape) != list(shape) or str(array.dtype) != dtype:
            raise UserError(
                f"{path / relative}: shape {list(array.shape)} {array.dtype}, manifest says {list(shape)} {dtype}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise UserError(f"{path / relative}: contains NaN or inf")
        if key.endswith(".sign") and not np.isin(array, (-1, 1)).all():
            raise UserError(f"{path / relative}: 1-bit weights must be -1 or +1")
        precision, name = key.split("/", 1)
        arrays.setdefault(precision, {})[name] = array
    return arrays
