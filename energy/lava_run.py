"""A Lava simulation's output folder (``vtg simulate``) read as an activity record.

``vtg simulate --bundle B --out DIR`` writes::

    DIR/activity.json   {"tc": Tc, "precision": "fixed" | "float", "<component>": {spikes, neurons, fan_out}, ...}
                        summed over all simulated queries (hw_sim/activity.py), plus an ``sfg`` entry
    DIR/metrics.json    {"bundle": B, "queries": N, ...}
    B/manifest.json     {"architecture": {variant, hidden_dim, num_layers, num_heads, video_dim, text_dim, ...}}

The components are those of the PyTorch model (docs/ARCHITECTURE.md), so they are priced alike
(:mod:`energy.measured`). Only the totals of video clips (``sfg``'s neurons) and of tokens
(``layer0.input``'s neurons / D) are known, not each query's; they are spread evenly over the N queries.
That is exact for the floating-point work of the NF variants, the only ones Lava runs (it depends on the
totals; only the base variant's softmax would need each query's length).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from energy.activity import ActivityRecord, Component, make_record
from energy.float_work import FloatShape, shape_of_spiking_model
from energy.measured import snn_op_of
from vtg.errors import UserError
from vtg.json_file import read_json_object

RUN_KEYS = ("tc", "precision")  # entries of activity.json that are not components


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, f"not found (is {path.parent} a folder written by vtg simulate?)")


def _field(data: dict[str, Any], key: str, path: Path) -> Any:
    if key not in data:
        raise UserError(f"{path}: field '{key}': missing")
    return data[key]


def _spread(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` integers that differ by at most one."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def load_simulation(folder: str | Path, bundle: str | Path | None = None) -> tuple[ActivityRecord, FloatShape, str]:
    """The record, model shape and spike price (int_acc for 1-bit NF) of a ``vtg simulate`` output folder.

    ``bundle`` defaults to the one named in ``metrics.json``.
    """
    folder = Path(folder)
    activity_path, metrics_path = folder / "activity.json", folder / "metrics.json"
    activity, metrics = _read_json(activity_path), _read_json(metrics_path)
    bundle = Path(bundle if bundle is not None else _field(metrics, "bundle", metrics_path))
    manifest_path = bundle / "manifest.json"
    arch = _field(_read_json(manifest_path), "architecture", manifest_path)
    for key in ("variant", "hidden_dim", "num_layers", "num_heads", "video_dim", "text_dim"):
        value = _field(arch, key, manifest_path)
        # sizes divide the counts below: a size of 0 (or a string) is a damaged manifest, named here
        if key != "variant" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UserError(f"{manifest_path}: field 'architecture.{key}': expected an integer >= 1, got {value!r}")
    queries = _field(metrics, "queries", metrics_path)
    if isinstance(queries, bool) or not isinstance(queries, int) or queries < 1:
        raise UserError(f"{metrics_path}: field 'queries': expected a positive integer, got {queries!r}")

    components = {}
    for name, entry in activity.items():
        if name in RUN_KEYS:
            continue
        if not isinstance(entry, dict) or not {"spikes", "neurons", "fan_out"} <= set(entry):
            raise UserError(f"{activity_path}: field '{name}': expected spikes, neurons and fan_out")
        try:
            spikes = np.asarray(entry["spikes"], dtype=np.float64)
            components[name] = Component(spikes, int(entry["neurons"]), int(entry["fan_out"]))
        except (TypeError, ValueError):
            message = "spikes must be numbers, neurons and fan_out integers"
            raise UserError(f"{activity_path}: field '{name}': {message}") from None
    hidden = int(arch["hidden_dim"])
    clips = _field(activity, "sfg", activity_path)["neurons"]
    tokens = _field(activity, "layer0.input", activity_path)["neurons"] // hidden
    record = make_record(
        components, _spread(clips, queries), _spread(tokens - clips, queries), f"{activity_path} (queries: {queries})"
    )
    # the manifest's architecture holds the feature sizes (video_dim, text_dim) too
    return record, shape_of_spiking_model(arch, arch), snn_op_of(arch["variant"])
