"""The Lava bundle: a versioned, self-describing folder holding an exported SpikingVTG model.

::

    BUNDLE/
      manifest.json        format, format_version, architecture, tc, neuron, quantization,
                           fixed_point (formats and integer scalars; null for NF), float (scalars),
                           tensors: {"<precision>/<name>": {file, shape, dtype, sha256}}
      fixed/<name>.npy     integer weights of the 1-bit NF model (export/fixed_point.py)
      float/<name>.npy     floating-point weights (effective beta sgn(.) for 1-bit layers)

:func:`read_bundle` checks everything before anything runs: a missing file, a checksum, shape or dtype
that differs from the manifest, or another format version is a :class:`UserError` naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vtg.errors import UserError
from vtg.json_file import read_json_object

FORMAT = "vtg-lava-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PRECISIONS = ("fixed", "float")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def write_bundle(out: Path, manifest: dict[str, Any], arrays: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write weights and the manifest (with their shapes and sha256) into ``out``; the manifest last,
    atomically, so that a folder with a manifest is complete."""
    out.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for precision, named in arrays.items():
        (out / precision).mkdir(exist_ok=True)
        for name, array in named.items():
            relative = f"{precision}/{name}.npy"
            np.save(out / relative, array, allow_pickle=False)
            tensors[f"{precision}/{name}"] = {
                "file": relative,
                "shape": list(array.shape),
                "dtype": str(array.dtype),
                "sha256": sha256(out / relative),
            }
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "tensors": tensors}
    handle, temporary = tempfile.mkstemp(dir=out, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        json.dump(manifest, stream, indent=1, sort_keys=True)
    os.replace(temporary, out / MANIFEST)
    return out / MANIFEST


def read_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle folder; any inconsistency is a one-line :class:`UserError`."""
    path = Path(path)
    manifest_path = path / MANIFEST
    manifest = read_json_object(manifest_path, f"not found (is {path} a bundle written by vtg-export --target lava?)")
    if manifest.get("format") != FORMAT:
        raise UserError(f"{manifest_path}: field 'format': expected {FORMAT!r}, got {manifest.get('format')!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{manifest_path}: field 'format_version': this toolkit reads version {FORMAT_VERSION}, "
            f"got {manifest.get('format_version')!r}"
        )
    for field in ("architecture", "tensors", "tc", "float"):
        if field not in manifest:
            raise UserError(f"{manifest_path}: field '{field}': missing")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for key, entry in manifest["tensors"].items():
        precision, name = key.split("/", 1)
        file = path / entry["file"]
        if not file.is_file():
            raise UserError(f"{file}: missing (listed in {manifest_path})")
        if sha256(file) != entry["sha256"]:
            raise UserError(f"{file}: sha256 does not match {manifest_path} (the file was changed or damaged)")
        array = np.load(file, allow_pickle=False)
        if list(array.shape) != entry["shape"] or str(array.dtype) != entry["dtype"]:
            raise UserError(
                f"{file}: shape {list(array.shape)} {array.dtype}, manifest says {entry['shape']} {entry['dtype']}"
            )
        arrays.setdefault(precision, {})[name] = array
    return Bundle(path, manifest, arrays)
