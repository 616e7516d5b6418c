"""The integer model's arithmetic and its PyTorch reference against the floating-point model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from export import fixed_point as fp
from export.float_reference import float_reference
from export.integer_reference import IntegerReference
from vtg.models import build_model

CONFIG = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": 4}
DIMS = {"video_dim": 12, "text_dim": 10, "video_levels": 1, "text_levels": 1}
ARCH = {"num_layers": 2, "num_heads": 2, "activation": "gelu", "sfg": True, "f_layers": 3, "d_layers": 3}


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_rounding_is_half_up():
    x = np.array([5, 6, 7, -5, -6, -7, 8])
    assert fp.rshift(x, 2).tolist() == [1, 2, 2, -1, -1, -2, 2]  # 1.25, 1.5, 1.75, -1.25, -1.5, -1.75, 2
    assert fp.rdiv(np.array([3, 5, -3, -5]), np.array([2, 2, 2, 2])).tolist() == [2, 3, -1, -2]


def test_isqrt_is_the_exact_floor():
    n = np.array([0, 1, 2, 3, 4, 15, 16, 17, (2**26 + 1) ** 2 - 1, (2**26 + 1) ** 2, 2**52 + 12345])
    expected = [math.isqrt(int(v)) for v in n]
    assert fp.isqrt(n).tolist() == expected


def test_gelu_table_follows_gelu_within_its_bin():
    beta = 0.07
    table, shift, offset = fp.gelu_table(beta)
    unit = beta / 2**fp.MEMBRANE_FRAC_BITS
    y = np.arange(-offset, offset, 97)
    approx = table[(y + offset) >> shift] * unit
    exact = torch.nn.functional.gelu(torch.from_numpy(y * unit)).numpy()
    assert np.abs(approx - exact).max() < 1.2 * fp.GELU_STEP  # |GELU'| <= 1.13 over one bin
    assert 2**shift * unit <= fp.GELU_STEP < 2 ** (shift + 1) * unit


def test_binary_weights_fold_beta_into_thresholds():
    torch.manual_seed(0)
    model = build_model("spikingvtg", CONFIG, DIMS).double().eval()
    arrays, scalars = fp.integer_parameters(model, max_clips=32)
    weight = model.layers[0].attention.key.weight.detach()
    beta = float(weight.abs().mean())
    signs = arrays["layer0.k.sign"]
    assert signs.dtype == np.int8 and set(np.unique(signs)) <= {-1, 1}
    assert (signs == np.where((weight - weight.mean()).numpy() >= 0, 1, -1)).all()
    assert scalars["layer0.k.threshold"] == round(model.config.threshold * 2**fp.MEMBRANE_FRAC_BITS / beta)
    assert scalars["leak"] == round(model.config.leak * 4096)
    assert arrays["input.video.bias"].shape == (32, 16)  # bias plus 32 clip positions


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_integer_reference_follows_the_float_model(activation):
    """Quantisation changes few spikes: identical at the first step, and outputs close after two."""
    torch.manual_seed(1)
    model = build_model("spikingvtg", {**CONFIG, "activation": activation}, DIMS).double().eval()
    reference = IntegerReference(*fp.integer_parameters(model, max_clips=32), {**ARCH, "activation": activation})
    rng = np.random.default_rng(0)
    video, text = unit_rows(rng, 18, 12), unit_rows(rng, 5, 10)
    integer, real = reference.run(video, text, tc=2), float_reference(model, video, text, tc=2)
    total = sum(s.numel() for s in real.spikes.values())
    first = sum(int((integer.spikes[k][0] != real.spikes[k][0]).sum()) for k in real.spikes)
    both = sum(int((integer.spikes[k] != real.spikes[k]).sum()) for k in real.spikes)
    assert sum(int(s.abs().sum()) for s in real.spikes.values()) > 50  # the model does spike
    assert first == 0 and both <= 0.01 * total
    assert (integer.foreground_logits - real.foreground_logits).abs().max() < 0.05
    assert (integer.gate - real.gate).abs().max() < 0.05
