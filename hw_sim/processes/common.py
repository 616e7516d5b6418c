"""What every SpikingVTG process shares at construction: its proc_params, the injected packet, the
report it sends each step, and the Vars that hold its weights, biases and thresholds."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.variable import Var

# A parameter's place in a Var: (Var name, index into it or None for the whole Var)
Place = tuple[str, Any]


def process_params(
    parameters: tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]],
    tc: int,
    batch: int,
    max_video: int,
    max_text: int,
    record_shape: tuple[int, ...] | None,
    places: dict[str, Place],
) -> dict[str, Any]:
    """proc_params: the scalars and architecture of one precision, the arrays that are not Vars (look-up
    tables), Tc, the query batch B, the padded lengths, the shape of the spike record (None when not
    recording) and ``places``: bundle name -> where its value lives among the process's Vars."""
    arrays, scalars, architecture = parameters
    return {
        "arrays": {name: array for name, array in arrays.items() if name.endswith(".gelu")},
        "scalars": scalars,
        "architecture": architecture,
        "tc": tc,
        "batch": batch,
        "max_video": max_video,
        "max_text": max_text,
        "record_shape": record_shape,
        "places": places,
    }


def packet_size(architecture: dict[str, Any], max_video: int, max_text: int) -> int:
    """Length of one query's injected packet [n_video, n_text, video (Lv_max, Dv).flat, text (Lq_max, Dt).flat]."""
    return 2 + max_video * architecture["video_dim"] + max_text * architecture["text_dim"]


def report_size(batch: int, counted: int, extra: int, record_shape: tuple[int, ...] | None) -> int:
    """Length of the flat ``report`` a process sends each step: its spike counts (B, P) of this step,
    ``extra`` read-out values, then the spikes (record_shape) when recording."""
    return batch * counted + extra + (int(np.prod(record_shape)) if record_shape is not None else 0)


def is_fixed(arrays: dict[str, np.ndarray]) -> bool:
    """Fixed-point parameters carry 1-bit ``.sign`` arrays; floating-point ones ``.weight``."""
    return any(name.endswith(".sign") for name in arrays)


def weight_name(arrays: dict[str, np.ndarray], key: str) -> str:
    return f"{key}.sign" if is_fixed(arrays) else f"{key}.weight"


def threshold_vars(
    process: Any, parameters: tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]], populations: list[str]
) -> dict[str, Place]:
    """Vars ``threshold`` and ``fire`` (one entry per population, at least one) on ``process``.

    Fixed point: the integers Theta and Phi of each population (export/fixed_point.py). Floating point:
    Vth and r Vth, the product computed as the PyTorch neuron computes it (fire_ratio * Vth)."""
    arrays, scalars, _ = parameters
    if is_fixed(arrays):
        theta = [scalars[f"{p}.threshold"] for p in populations]
        fire = [scalars[f"{p}.fire"] for p in populations]
    else:
        theta = [scalars["threshold"]] * len(populations)
        fire = [scalars["fire_ratio"] * scalars["threshold"]] * len(populations)
    rows = max(1, len(populations))
    process.threshold = Var(shape=(rows,), init=np.array(theta + [0] * (rows - len(theta))))
    process.fire = Var(shape=(rows,), init=np.array(fire + [0] * (rows - len(fire))))
    places: dict[str, Place] = {}
    for i, p in enumerate(populations):
        places[f"{p}.threshold"], places[f"{p}.fire"] = ("threshold", i), ("fire", i)
    return places
