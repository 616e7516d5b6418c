"""The integer model's arithmetic and its PyTorch reference against the floating-point model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from export import fixed_point as fp
from export.float_reference import float_reference
from export.integer_reference import IntegerReference, imatmul
from vtg.models import build_model

CONFIG = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": 4}
DIMS = {"video_dim": 12, "text_dim": 10, "video_levels": 1, "text_levels": 1}
ARCH = {
    "num_layers": 2,
    "num_heads": 2,
    "activation": "gelu",
    "sfg": True,
    "f_layers": 3,
    "d_layers": 3,
    "decoder_warmup": 0.0,
    "initial_gate": 1.0,
    "rate_driven": False,
}


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_rounding_is_half_up():
    x = np.array([5, 6, 7, -5, -6, -7, 8])
    assert fp.rshift(x, 2).tolist() == [1, 2, 2, -1, -1, -2, 2]  # 1.25, 1.5, 1.75, -1.25, -1.5, -1.75, 2
    assert fp.rdiv(np.array([3, 5, -3, -5]), np.array([2, 2, 2, 2])).tolist() == [2, 3, -1, -2]


def test_integer_matmul_is_exact_through_float64_and_beyond_its_range():
    generator = torch.Generator().manual_seed(0)
    # within float64's integers: membrane-sized currents times ternary spikes and 1-bit weights
    a = torch.randint(-(1 << 30), 1 << 30, (3, 7, 64), generator=generator)
    b = torch.randint(-1, 2, (3, 64, 5), generator=generator)
    assert torch.equal(imatmul(a, b), a @ b) and imatmul(a, b).dtype == torch.int64
    # beyond them: float64 would round 2^53 + 1, so the int64 product is kept
    big = torch.tensor([[(1 << 53) + 1, 1]])
    ones = torch.tensor([[1], [1]])
    assert imatmul(big, ones).item() == (1 << 53) + 2
    assert (big.double() @ ones.double()).long().item() != (1 << 53) + 2
    assert torch.equal(imatmul(a[..., :0], b[:, :0]), a[..., :0] @ b[:, :0])  # empty inner size
    vector = torch.randint(-(1 << 20), 1 << 20, (64,), generator=generator)  # a matrix-vector product (SFG)
    assert torch.equal(imatmul(a[0], vector), a[0] @ vector)


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


def test_firing_point_is_the_ratio_of_the_threshold_rounded_half_up():
    assert [fp.firing_point(theta, 0.5) for theta in (10, 11, 12, 1, 2)] == [5, 6, 6, 1, 1]
    assert fp.firing_point(8_000_001, 1.0) == 8_000_001  # r = 1: Eq. 1's threshold itself
    assert fp.firing_point(7, 0.1) == 1  # 0.7 rounds to 1; below 1/2 it would be 0, which fires as 1 does
    assert fp.firing_point(6, 0.75) == 5 and fp.firing_point(6, 0.25) == 2  # 4.5 -> 5, 1.5 -> 2
    # the product is exact: the double 0.3 lies just below 3/10, so 5 x 0.3 lies just below 1.5
    assert fp.firing_point(5, 0.3) == 1


@pytest.mark.parametrize("fire_ratio", [1.0, 0.5])
def test_every_threshold_has_its_firing_point(fire_ratio):
    torch.manual_seed(0)
    model = build_model("spikingvtg", {**CONFIG, "fire_ratio": fire_ratio}, DIMS).double().eval()
    _, scalars = fp.integer_parameters(model, max_clips=32)
    thresholds = {name.removesuffix(".threshold") for name in scalars if name.endswith(".threshold")}
    assert thresholds == {name.removesuffix(".fire") for name in scalars if name.endswith(".fire")}
    assert {"input", "layer1.attn", "layer1.out", "decoder.f.1", "decoder.d.0"} <= thresholds
    for population in thresholds:
        theta = scalars[f"{population}.threshold"]
        assert scalars[f"{population}.fire"] == (theta if fire_ratio == 1.0 else (theta + 1) // 2)
    assert fp.float_parameters(model)[1]["fire_ratio"] == fire_ratio


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


@pytest.mark.parametrize(
    ("activation", "fire_ratio", "rate_driven"),
    [("gelu", 1.0, False), ("relu", 1.0, False), ("gelu", 0.5, False), ("gelu", 0.5, True)],
)
def test_integer_reference_follows_the_float_model(activation, fire_ratio, rate_driven):
    """Quantisation changes few spikes: identical at the first step, and outputs close after two (with
    rate-driven currents too: the integer trace, norm and increments follow the float ones)."""
    torch.manual_seed(1)
    config = {**CONFIG, "activation": activation, "fire_ratio": fire_ratio, "rate_driven": rate_driven}
    model = build_model("spikingvtg", config, DIMS).double().eval()
    arch = {**ARCH, "activation": activation, "rate_driven": rate_driven}
    reference = IntegerReference(*fp.integer_parameters(model, max_clips=32), arch)
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


def test_the_integer_reference_fires_at_the_firing_point():
    """At fire_ratio 0.5 the integer model is not the fire_ratio 1 one: its firing points move, its
    resets do not (a membrane just past Phi < Theta fires and goes negative)."""
    torch.manual_seed(1)
    model = build_model("spikingvtg", {**CONFIG, "fire_ratio": 0.5}, DIMS).double().eval()
    arrays, scalars = fp.integer_parameters(model, max_clips=32)
    rng = np.random.default_rng(0)
    video, text = unit_rows(rng, 18, 12), unit_rows(rng, 5, 10)
    half = IntegerReference(arrays, scalars, ARCH).run(video, text, tc=3)
    full = {**scalars, **{n.replace(".threshold", ".fire"): v for n, v in scalars.items() if n.endswith(".threshold")}}
    whole = IntegerReference(arrays, full, ARCH).run(video, text, tc=3)
    assert sum(int(half.spikes[k].abs().sum()) for k in half.spikes) > sum(
        int(whole.spikes[k].abs().sum()) for k in whole.spikes
    )
    # one step of one population by hand: U = I from rest, s = [U >= Phi] - [U <= -Phi]
    reference = IntegerReference(arrays, scalars, ARCH)
    current = torch.arange(-12, 13) * (scalars["input.threshold"] // 8)
    spikes = reference._lif("input", current, scalars["leak"])
    phi, theta = scalars["input.fire"], scalars["input.threshold"]
    assert spikes.tolist() == ((current >= phi).long() - (current <= -phi).long()).tolist()
    assert torch.equal(reference.u["input"], current - theta * spikes)
