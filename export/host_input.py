"""The host input layers of an exported SpikingVTG model (config ``model.input_mlp``; spiking/inputs.py).

    x <- ReLU(W_j LN_j(x) + b_j),   j = 0 .. n - 1,   per modality, in float64 on the host

They run once per query, before the features reach the spiking core, like the backbone that made the
features: no target maps them to neurons. The Lava bundle keeps their float weights under ``float/`` (in
both precisions' deployments the host computes them in floating point and the fixed-point path quantises
their output as it quantises features), the NIR folder beside its subgraphs; the ONNX step model holds
them as ordinary operators. Bundle names, with ``m`` the modality and ``j`` the layer::

    host.{m}.{j}.norm.weight, host.{m}.{j}.norm.bias   (D_m,)       LayerNorm's gain and shift
    host.{m}.{j}.weight                                (D_m, D_m)   Linear
    host.{m}.{j}.bias                                  (D_m,)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional

from spiking.inputs import HOST_NORM_EPS

MODALITIES = ("video", "text")
PARTS = ("norm.weight", "norm.bias", "weight", "bias")


def host_parameters(model: Any) -> dict[str, torch.nn.Parameter]:
    """Bundle name -> parameter of ``model``'s host input layers (none without ``input_mlp``)."""
    parameters: dict[str, torch.nn.Parameter] = {}
    for modality in MODALITIES:
        modules = getattr(model.inputs, f"{modality}_host")  # LayerNorm, Linear, ReLU per layer (spiking/inputs.py)
        for j in range(len(modules) // 3):
            norm, linear = modules[3 * j], modules[3 * j + 1]
            tensors = (norm.weight, norm.bias, linear.weight, linear.bias)
            parameters.update({f"host.{modality}.{j}.{part}": tensor for part, tensor in zip(PARTS, tensors)})
    return parameters


def host_arrays(model: Any) -> dict[str, np.ndarray]:
    """Bundle name -> float64 copy of each weight of ``model``'s host input layers."""
    return {name: tensor.detach().double().numpy().copy() for name, tensor in host_parameters(model).items()}


@torch.no_grad()
def load_host_arrays(model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Copy a bundle's host weights ``arrays`` into ``model``'s host input layers."""
    for name, tensor in host_parameters(model).items():
        tensor.copy_(torch.from_numpy(arrays[name]))


def host_shapes(architecture: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Bundle name -> shape of every host weight, from the manifest's ``architecture`` alone."""
    shapes: dict[str, tuple[int, ...]] = {}
    for modality in MODALITIES:
        dim = architecture[f"{modality}_dim"]
        for j in range(architecture["host_input_layers"]):
            part_shapes = ((dim,), (dim,), (dim, dim), (dim,))
            shapes.update({f"host.{modality}.{j}.{part}": shape for part, shape in zip(PARTS, part_shapes)})
    return shapes


def apply_host_input(arrays: dict[str, np.ndarray], layers: int, modality: str, x: np.ndarray) -> np.ndarray:
    """Features (L, D_m) -> the host layers' output (L, D_m), float64, with the bundle's weights ``arrays``.

    The same operations as the PyTorch model's host layers (LayerNorm, Linear, ReLU), in float64.
    """
    h = torch.from_numpy(np.asarray(x, np.float64))  # (L, D_m)
    for j in range(layers):
        w = {part: torch.from_numpy(arrays[f"host.{modality}.{j}.{part}"]) for part in PARTS}
        h = functional.layer_norm(h, h.shape[-1:], w["norm.weight"], w["norm.bias"], HOST_NORM_EPS)
        h = torch.relu(functional.linear(h, w["weight"], w["bias"]))  # (L, D_m)
    return h.numpy()
