"""benchmarks/netx_fit.py: the netx HDF5 of a decoder layer holds the integer model's units; Lava runs it as
the numpy account of Loihi's LIF says (when lava-dl is installed); and that neuron is not the model's."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from benchmarks.netx_fit import (
    SPIKE_WEIGHT,
    binary_pair,
    lava_run,
    loihi_pair,
    model_neuron,
    netx_parameters,
    ternary_reset_to_zero,
    write_hdf5,
)
from export import fixed_point as fp


def _layer(rng: np.random.Generator, out: int = 4, inputs: int = 3, kernel: int = 3):
    sign = rng.choice(np.array([-1, 1], np.int8), size=(out, inputs, kernel))
    bias = rng.integers(-3000, 3000, size=out)
    return sign, bias


def _currents(sign: np.ndarray, bias: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """'same' conv of ternary x (Tc, clips, C_in) with sign (C, C_in, k): (W_q s, I = (W_q s) 2^12 + B)."""
    k = sign.shape[2]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (0, 0))).astype(np.int64)
    acc = sum(padded[:, j : j + x.shape[1]] @ sign[:, :, j].T.astype(np.int64) for j in range(k))
    return acc, acc * (1 << fp.MEMBRANE_FRAC_BITS) + bias


def test_parameters_and_file_hold_the_integer_models_units(tmp_path):
    sign, bias = _layer(np.random.default_rng(0))
    params = netx_parameters(sign, bias, fire=1000)
    # 64 per +-1 spike, shifted left 6 bits by Loihi's LIF: 2^12 per spike, the integer model's W_q s << F
    assert SPIKE_WEIGHT << 6 == 1 << fp.MEMBRANE_FRAC_BITS
    np.testing.assert_array_equal(params["weight"][:, :, 0], np.concatenate([sign, -sign]) * 64)
    np.testing.assert_array_equal(params["bias"], np.floor(np.concatenate([bias, -bias]) / 64 + 0.5))
    assert params["vth"] == 15  # v > 15 * 64 = 960 fires at v >= 1024: the nearest to U >= 1000 netx can write
    assert netx_parameters(sign, bias, fire=1024)["vth"] == 15  # a multiple of 64 is exact

    path = tmp_path / "layer.net"
    write_hdf5(path, params, in_channels=3, clips=7)
    with h5py.File(path) as file:
        conv = file["layer/1"]
        assert file["layer/0/type"][()] == b"input" and list(file["layer/0/shape"]) == [3, 1, 7]
        assert conv["type"][()] == b"conv" and list(conv["shape"]) == [8, 1, 7]
        assert list(conv["padding"]) == [0, 1]  # 'same' over the clips (width)
        neuron = conv["neuron"]
        assert neuron["type"][()] == b"CUBA" and neuron["iDecay"][()] == 4096 and neuron["vDecay"][()] == 0
        assert neuron["vThMant"][()] == 15
        np.testing.assert_array_equal(conv["weight"][()], params["weight"])


def test_subtractive_reset_keeps_what_a_reset_to_zero_loses():
    theta, fire = 1000, 500  # fire_ratio 0.5
    current = np.full((12, 1, 1), 700)  # 0.7 Theta each step
    spikes = model_neuron(current, theta, fire)
    # the model's neuron carries every unit of charge over: |sum I - Theta sum s| stays within Theta
    assert abs(int(current.sum()) - theta * int(spikes.sum())) < theta
    for other in (ternary_reset_to_zero(current, fire), binary_pair(current, fire)):
        assert other.sum() == 12  # fires every step: 0.7 Theta >= Phi, and each reset throws the rest away
        assert not np.array_equal(other, spikes)
    assert spikes.sum() == 8  # round(12 * 0.7) = 8: the rate the subtraction keeps
    negative = model_neuron(-current, theta, fire)
    np.testing.assert_array_equal(negative, -spikes)  # ternary: the pair reproduces the sign, not the reset
    np.testing.assert_array_equal(binary_pair(-current, fire), -binary_pair(current, fire))


def test_the_pair_on_exact_parameters_is_loihis_arithmetic():
    rng = np.random.default_rng(1)
    sign, bias = _layer(rng)
    bias = bias // 64 * 64  # no rounding of the bias, and Phi a multiple of 64 plus one: both exact on Loihi
    x = rng.integers(-1, 2, size=(6, 5, 3))
    acc, current = _currents(sign, bias, x)
    fire = 64 * 40 + 1
    params = netx_parameters(sign, bias, fire)
    np.testing.assert_array_equal(loihi_pair(acc, params), binary_pair(current, fire))


@pytest.mark.slow
def test_lava_runs_the_file_as_loihis_lif(tmp_path):
    # lava-dl is no dependency (export/LAVA.md); where it is installed, the file must run in Lava as measured.
    # importorskip, not find_spec: without lava-dl the namespace package lava.lib does not exist either
    pytest.importorskip("lava.lib.dl.netx")
    rng = np.random.default_rng(2)
    tc, clips = 4, 6
    runs, netx = [], {}
    layers = {head: _layer(rng) for head in ("f", "d")}
    for head, (sign, bias) in layers.items():
        netx[head] = netx_parameters(sign, bias, fire=6000)
    for lv in (6, 4):  # two queries, the second shorter than the network: padded clips are cut off
        x = rng.integers(-1, 2, size=(tc, lv, 3))
        heads = {head: dict(zip(("acc", "current"), _currents(*layers[head], x))) for head in layers}
        runs.append({"x": x, "heads": heads})
    spikes = lava_run({"runs": runs, "netx": netx}, tc, clips, tmp_path)
    differ = 0
    for head in layers:
        for q, run in enumerate(runs):
            assert spikes[head][q].shape == (tc, run["x"].shape[1], 4)
            np.testing.assert_array_equal(spikes[head][q], loihi_pair(run["heads"][head]["acc"], netx[head]))
            differ += int((spikes[head][q] != model_neuron(run["heads"][head]["current"], 12000, 6000)).sum())
    assert differ > 0  # and not the model's neuron
