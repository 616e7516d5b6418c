"""1-bit weights of 1-bit (NF)-SpikingVTG (paper Sec. 4.6), as Brevitas weight quantisers.

For a weight matrix W in R^{n x m}::

    W_q  = sgn(W - mean(W))  in {-1, +1}     (sgn(0) = +1)
    beta = mean(|W|)                          (the paper's scale: the mean of |W|, not of |W - mean(W)|)
    y    = beta * (W_q x) + b                 (the layer's effective weight is beta * W_q)

Training keeps the real-valued W (the latent weight) and passes gradients through sgn with a
straight-through estimator (Brevitas' ``binary_sign_ste``); beta is differentiable. The bias stays
real. Convolutions use the same quantiser over the whole (out, in, k) kernel.

Brevitas derives beta * W_q from the latent W at every call. Over the Tc timesteps of one forward pass
W does not change, so :func:`quantised_once` derives it once per layer and reuses it at every step
(the same weight, hence the same outputs and, under back-propagation through time, the same gradient).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from brevitas.function.ops_ste import binary_sign_ste
from brevitas.inject import ExtendedInjector
from brevitas.nn import QuantConv1d, QuantLinear
from brevitas.proxy import WeightQuantProxyFromInjector
from torch import nn


class CenteredBinaryQuant(nn.Module):
    """Brevitas tensor quantiser: W -> (beta * sgn(W - mean W), beta, zero point 0, bit width 1)."""

    def __init__(self):
        super().__init__()

    def forward(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        beta = weight.abs().mean()  # () the paper's beta
        signs = binary_sign_ste(weight - weight.mean())  # same shape as weight, in {-1, +1}
        zero_point = torch.zeros((), dtype=weight.dtype, device=weight.device)
        bit_width = torch.ones((), dtype=weight.dtype, device=weight.device)
        return signs * beta, beta, zero_point, bit_width


class CenteredBinaryWeight(ExtendedInjector):
    """Brevitas injector for ``weight_quant=``: per-tensor, mean-centred sign, scale mean|W|."""

    tensor_quant = CenteredBinaryQuant
    proxy_class = WeightQuantProxyFromInjector
    bit_width = 1
    signed = True
    narrow_range = True


def make_linear(in_features: int, out_features: int, binary: bool, bias: bool = True) -> nn.Module:
    """A linear layer, 1-bit (Brevitas ``QuantLinear``) when ``binary``."""
    if binary:
        return QuantLinear(in_features, out_features, bias=bias, weight_quant=CenteredBinaryWeight)
    return nn.Linear(in_features, out_features, bias=bias)


def make_conv1d(in_channels: int, out_channels: int, kernel: int, binary: bool) -> nn.Module:
    """A 'same'-padded 1-D convolution (odd kernel), 1-bit (Brevitas ``QuantConv1d``) when ``binary``."""
    if binary:
        return QuantConv1d(in_channels, out_channels, kernel, padding=kernel // 2, weight_quant=CenteredBinaryWeight)
    return nn.Conv1d(in_channels, out_channels, kernel, padding=kernel // 2)


def effective_weight(layer: nn.Module) -> torch.Tensor:
    """The weight a layer multiplies by: beta * W_q for a 1-bit layer, W otherwise."""
    if isinstance(layer, (QuantLinear, QuantConv1d)):
        return layer.quant_weight().value
    return layer.weight


@contextlib.contextmanager
def quantised_once(module: nn.Module) -> Iterator[None]:
    """Inside the block every 1-bit layer of ``module`` computes y = (beta W_q) x + b with beta W_q derived once.

    Each layer's ``forward`` is shadowed by the plain linear or convolution on its effective weight, taken
    at entry (with its graph when gradients are enabled), and restored on exit.
    """
    layers = [layer for layer in module.modules() if isinstance(layer, (QuantLinear, QuantConv1d))]
    try:
        for layer in layers:
            weight = effective_weight(layer)
            if isinstance(layer, QuantLinear):
                layer.forward = functools.partial(F.linear, weight=weight, bias=layer.bias)
            else:
                layer.forward = functools.partial(
                    F.conv1d, weight=weight, bias=layer.bias, stride=layer.stride, padding=layer.padding
                )
        yield
    finally:
        for layer in layers:
            layer.__dict__.pop("forward", None)
