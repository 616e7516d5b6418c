"""lava-dl netx against the integer model: the best netx HDF5 of a spiking decoder layer, run in Lava.

    python -m benchmarks.netx_fit [--quick]       (needs lava-dl 0.6.0, which the project does not install:
                                                    pip install lava-dl==0.6.0)

SpikingVTG's decoders are the part of the model closest to what netx describes: a 1-bit 'same' Conv1d over
the clips into integrate-and-fire neurons (no leak), then a read-out convolution. Their neurons are the
model's ternary neurons with subtractive reset (export/fixed_point.py, units of the membrane U)::

    U <- U + I,   I = (W_q s) 2^12 + B;   s = [U >= Phi] - [U <= -Phi];   U <- U - Theta s

netx builds three kinds of neuron from an HDF5 file (lava.lib.dl.netx.hdf5.Network.get_neuron_params):
CUBA (Lava's LIF: binary spikes, v <- 0 on a spike), Sigma-Delta (graded spikes carrying the whole
residue, which is then zero; a bias enters once, not every step) and resonate-and-fire. None sends a spike
of fixed size and keeps the rest of the membrane, and none sends -1, so the closest netx layer is a CUBA
pair over one convolution of 2C channels [W; -W] with biases [B; -B]: the first C fire for s = +1, the
other C for s = -1. On Loihi's LIF (iDecay 4096: the current lasts one step; vDecay 0: no leak) the
synaptic input, the bias (netx's bias_exp 6) and the threshold are all shifted left by 6 bits, so a weight
of 2^12 / 2^6 = 64 per +-1 input spike puts v in the integer model's units, v = U; the bias becomes
round(B / 64) and the threshold ceil(Phi / 64) - 1 (v > vth 2^6 fires), the nearest that netx can write.

For the first decoder layer of both heads, on the encoder spikes the PyTorch integer reference
(export/integer_reference.py) computes for each val query, the HDF5 is run in one Lava run (Loihi2SimCfg,
fixed_pt; queries back to back, every neuron zeroed at each query's first step by netx's reset_interval),
and its spikes are compared with the reference's on every real clip, channel and step. Also, from the same
currents in numpy: Lava's own arithmetic (checked equal to the Lava run), the pair at exact bias and
threshold, and one ternary membrane reset to zero (lava-nc's TernaryLIF, which netx cannot build), to say
which difference costs what. The read-out the next convolution computes from the netx spikes is compared
with the reference's. Both at the bundle's firing point and at fire_ratio 1 (Phi = Theta, Eq. 1). A netx
synapse delays its output by one step; the comparison takes that step into account.

Result: benchmarks/results/netx_fit.json. ``--quick``: 10 queries instead of 50 (on 2 shared CPU cores the
quick run's two Lava runs took 9 and 6 minutes: Lava's processes synchronise every step).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hw_sim  # noqa: F401 - first: it sets multiprocessing's start method as Lava needs it
from benchmarks.common import ROOT, machine_info, quick_main, write_result
from export import fixed_point as fp

NAME = "netx_fit"
ACT_SHIFT = 6  # Loihi's LIF shifts synaptic input, bias (netx: bias_exp 6) and threshold left by 6 bits
SPIKE_WEIGHT = 1 << (fp.MEMBRANE_FRAC_BITS - ACT_SHIFT)  # 64: one +-1 spike adds 2^12 to v, as to U
MESSAGE_BITS = 8  # graded input messages: the encoder's spikes are ternary, and a unary port reads -1 as 1
LAVA_DL = "lava-dl 0.6.0 (pip install lava-dl==0.6.0; the project does not install it, see export/LAVA.md)"


def netx_parameters(sign: np.ndarray, bias: np.ndarray, fire: int) -> dict[str, np.ndarray | int]:
    """The CUBA pair for one 1-bit decoder layer: sign (C, C_in, k) int8, bias B (C,) and firing point Phi.

    Returns weight (2C, C_in, 1, k) = 64 [W_q; -W_q] (netx HDF5 layout: out, in, height, width), bias
    (2C,) = round([B; -B] / 64), vth = ceil(Phi / 64) - 1: v > vth 2^6 where the model fires at U >= Phi.
    """
    weight = np.concatenate([sign, -sign]).astype(np.int64) * SPIKE_WEIGHT  # (2C, C_in, k)
    scaled = np.concatenate([bias, -bias]).astype(np.int64)
    rounded = (scaled + (1 << (ACT_SHIFT - 1))) >> ACT_SHIFT  # round half up, as the integer model rounds
    vth = -(-fire // (1 << ACT_SHIFT)) - 1
    return {"weight": weight[:, :, None, :], "bias": rounded, "vth": int(vth)}


def write_hdf5(path: Path, params: dict[str, Any], in_channels: int, clips: int) -> None:
    """A netx network file: an input of (C_in, 1, clips) and one conv layer of CUBA IF neurons.

    netx reads shapes as (channels, height, width) and reverses them to Lava's (x, y, channels); the clips
    are x. iDecay 4096 empties the current each step, vDecay 0 keeps the voltage (IF, as the decoders').
    """
    import h5py

    out_channels, _, _, kernel = params["weight"].shape
    with h5py.File(path, "w") as file:
        layers = file.create_group("layer")
        source = layers.create_group("0")
        source.create_dataset("type", data=np.bytes_("input"))
        source.create_dataset("shape", data=np.array([in_channels, 1, clips]))
        conv = layers.create_group("1")
        conv.create_dataset("type", data=np.bytes_("conv"))
        conv.create_dataset("shape", data=np.array([out_channels, 1, clips]))
        conv.create_dataset("weight", data=params["weight"])
        conv.create_dataset("bias", data=params["bias"])
        conv.create_dataset("stride", data=np.array([1, 1]))
        conv.create_dataset("padding", data=np.array([0, kernel // 2]))  # (height, width): 'same' over clips
        conv.create_dataset("dilation", data=np.array([1, 1]))
        conv.create_dataset("groups", data=np.array(1))
        neuron = conv.create_group("neuron")
        neuron.create_dataset("type", data=np.bytes_("CUBA"))
        for key, value in {"iDecay": 4096, "vDecay": 0, "vThMant": params["vth"], "refDelay": 1}.items():
            neuron.create_dataset(key, data=value)
        neuron.create_dataset("gradedSpike", data=False)


# ------------------------------------------------------------------------------------------------
# The neurons compared, on one layer's integer currents I (Tc, clips, C) (units of U)


def model_neuron(current: np.ndarray, theta: int, fire: int) -> np.ndarray:
    """The integer model's IF: U += I; s = [U >= Phi] - [U <= -Phi]; U -= Theta s. -> s (Tc, clips, C)."""
    u, spikes = np.zeros(current.shape[1:], np.int64), np.zeros(current.shape, np.int8)
    for t, i in enumerate(current):
        u = np.clip(u + i, -fp.STATE_MAX, fp.STATE_MAX)
        spikes[t] = (u >= fire).astype(np.int8) - (u <= -fire)
        u -= theta * spikes[t]
    return spikes


def ternary_reset_to_zero(current: np.ndarray, fire: int) -> np.ndarray:
    """One ternary membrane reset to zero on a spike (lava-nc's TernaryLIF; netx cannot build it)."""
    u, spikes = np.zeros(current.shape[1:], np.int64), np.zeros(current.shape, np.int8)
    for t, i in enumerate(current):
        u = np.clip(u + i, -fp.STATE_MAX, fp.STATE_MAX)
        spikes[t] = (u >= fire).astype(np.int8) - (u <= -fire)
        u[spikes[t] != 0] = 0
    return spikes


def binary_pair(current: np.ndarray, fire: int) -> np.ndarray:
    """Two binary membranes, +I and -I, each reset to zero on its spike, at exact bias and threshold."""
    both = np.concatenate([current, -current], axis=-1)
    v, spikes = np.zeros(both.shape[1:], np.int64), np.zeros(both.shape, np.int8)
    for t, i in enumerate(both):
        v = np.clip(v + i, -fp.STATE_MAX, fp.STATE_MAX)
        spikes[t] = v >= fire
        v[spikes[t] == 1] = 0
    half = current.shape[-1]
    return spikes[..., :half] - spikes[..., half:]


def loihi_pair(acc: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Lava's fixed-point LIF (lava/proc/lif/models.py, PyLifModelBitAcc) on the pair: v += (a + b) 2^6,
    v clipped to 24 bits, s = v > vth 2^6, v <- 0 on a spike; a = the conv of the input spikes with the
    netx weights. acc (Tc, clips, C) = W_q s without bias. -> s_+ - s_- (Tc, clips, C)."""
    both = np.concatenate([acc, -acc], axis=-1) * SPIKE_WEIGHT  # a, (Tc, clips, 2C)
    limit = (1 << (fp.STATE_BITS - 1)) - 1
    v, spikes = np.zeros(both.shape[1:], np.int64), np.zeros(both.shape, np.int8)
    for t, a in enumerate(both):
        v = np.clip(v + ((a + params["bias"]) << ACT_SHIFT), -limit, limit)
        spikes[t] = v > params["vth"] << ACT_SHIFT
        v[spikes[t] == 1] = 0
    half = acc.shape[-1]
    return spikes[..., :half] - spikes[..., half:]


# ------------------------------------------------------------------------------------------------
# The measurement


def _reference_runs(bundle: Any, queries: list[Any], scalars: dict[str, Any], tc: int) -> list[dict[str, Any]]:
    """Per query: the encoder spikes on the clips (Tc, Lv, D), and per head the first decoder layer's
    current I, its W_q s part and spikes (Tc, Lv, C), and the read-out sum over Tc (Lv, C_out)."""
    from export.integer_reference import IntegerReference

    arrays, _, arch = bundle.parameters("fixed")
    reference = IntegerReference(arrays, scalars, arch)
    last = f"layer{arch['num_layers'] - 1}.out"
    runs = []
    for query in queries:
        run = reference.run(query.video, query.text, tc)
        lv = query.video.shape[0]
        x = run.spikes[last][:, :lv].long()  # (Tc, Lv, D)
        heads = {}
        for head in ("f", "d"):
            key = f"decoder.{head}.0"
            current = torch.stack([reference._conv(step, key) for step in x])  # (Tc, Lv, C)
            heads[head] = {
                "current": current.numpy(),
                "acc": ((current - reference.w[f"{key}.bias"]) >> fp.MEMBRANE_FRAC_BITS).numpy(),
                "spikes": run.spikes[key][:, :lv].numpy(),
            }
        runs.append({"x": x.numpy(), "heads": heads})
    return runs


def _readout(bundle: Any, scalars: dict[str, Any], head: str, spikes: np.ndarray) -> np.ndarray:
    """Sum over Tc of the read-out convolution of the layer's spikes (Tc, Lv, C) -> (Lv, C_out), integer."""
    from export.integer_reference import IntegerReference

    arrays, _, arch = bundle.parameters("fixed")
    key = f"decoder.{head}.1"
    if arch[f"{head}_layers"] != 2:
        raise RuntimeError(f"decoder.{head} has {arch[f'{head}_layers']} layers; the read-out comparison expects 2")
    conv = IntegerReference(arrays, scalars, arch)._conv
    return sum(conv(torch.from_numpy(step.astype(np.int64)), key) for step in spikes).numpy()


def lava_run(variant: dict[str, Any], tc: int, clips: int, folder: Path) -> dict[str, list[np.ndarray]]:
    """One Lava run of both heads' netx networks over all queries -> per head, spikes (Tc, Lv, C) per query.

    ``variant``: ``runs`` (per query ``x``, the encoder spikes (Tc, Lv, D)) and ``netx`` (per head f, d, the
    :func:`netx_parameters`); the networks take videos of up to ``clips`` clips, their HDF5 files go to ``folder``.
    """
    from lava.lib.dl.netx.hdf5 import Network
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
    from lava.proc.io.source import RingBuffer as Source

    runs = variant["runs"]
    steps = len(runs) * tc
    data = np.zeros((clips, 1, runs[0]["x"].shape[-1], steps + 1), np.int32)  # (x, y, C_in, time)
    for q, run in enumerate(runs):
        data[: run["x"].shape[1], 0, :, q * tc : (q + 1) * tc] = run["x"].transpose(1, 2, 0)
    source = Source(data=data)
    extractors = {}
    for head in ("f", "d"):
        path = folder / f"{head}.net"
        write_hdf5(path, variant["netx"][head], data.shape[2], clips)
        # the conv sends its input's current one step later: each query's first current reaches the
        # neurons at time q Tc + 2 (Lava counts steps from 1), where netx's LIFReset zeroes u and v
        network = Network(net_config=str(path), input_message_bits=MESSAGE_BITS, reset_interval=tc, reset_offset=1)
        extractors[head] = Extractor(shape=network.out.shape, buffer_size=tc)  # a Var read goes element by element
        source.s_out.connect(network.inp)
        network.out.connect(extractors[head].in_port)
    config = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={Extractor: PyLoihiExtractorModel})
    spikes: dict[str, list[np.ndarray]] = {"f": [], "d": []}
    try:
        source.run(condition=RunSteps(num_steps=1), run_cfg=config)  # the synaptic delay's step: no input yet
        for extractor in extractors.values():
            extractor.receive()
        for run in runs:
            source.run(condition=RunSteps(num_steps=tc), run_cfg=config)
            for head, extractor in extractors.items():
                out = np.stack([extractor.receive()[:, 0] for _ in range(tc)])  # (Tc, clips, 2C)
                half = out.shape[-1] // 2
                spikes[head].append(
                    (out[:, : run["x"].shape[1], :half] - out[:, : run["x"].shape[1], half:]).astype(np.int8)
                )
    finally:
        source.stop()
    return spikes


def _rate(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[int, float]:
    differ = sum(int((x != y).sum()) for x, y in zip(a, b))
    return differ, differ / sum(x.size for x in a)


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Measure the netx pair against the integer reference on the bench student's val queries."""
    try:  # find_spec("lava.lib.dl") raises instead: without lava-dl the namespace lava.lib is missing too
        import lava.lib.dl.netx  # noqa: F401
    except ModuleNotFoundError:
        raise SystemExit(f"benchmarks/netx_fit.py: needs {LAVA_DL}") from None
    from benchmarks.assets import demo_data, lava_bundle
    from export.bundle import read_bundle
    from hw_sim.simulation import load_queries

    data, path = demo_data(), lava_bundle(quick)
    bundle = read_bundle(path)
    arrays, scalars, arch = bundle.parameters("fixed")
    tc = bundle.manifest["tc"]
    limit = 10 if quick else 50
    _, queries = load_queries(str(data), "val", limit, bundle)
    bundle_ratio = float(bundle.manifest["model_config"]["fire_ratio"])
    at_one = {**scalars, **{k: scalars[k.removesuffix(".fire") + ".threshold"] for k in scalars if k.endswith(".fire")}}
    variants: dict[str, dict[str, Any]] = {f"fire_ratio {bundle_ratio}": {"scalars": scalars}}
    if bundle_ratio != 1.0:
        variants["fire_ratio 1.0"] = {"scalars": at_one}
    for variant in variants.values():
        variant["runs"] = _reference_runs(bundle, queries, variant["scalars"], tc)
        variant["netx"] = {
            head: netx_parameters(
                arrays[f"decoder.{head}.0.sign"],
                arrays[f"decoder.{head}.0.bias"],
                variant["scalars"][f"decoder.{head}.0.fire"],
            )
            for head in ("f", "d")
        }
    clips = max(query.video.shape[0] for query in queries)
    if progress:
        print(f"[{NAME}] Lava: {len(queries)} queries x {tc} steps, 2 netx networks per run", file=sys.stderr)
    lava, seconds = {}, {}
    for label, variant in variants.items():  # one run each: Lava runs only the processes connected to one
        begin = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            lava[label] = lava_run(variant, tc, clips, Path(folder))
        seconds[label] = time.perf_counter() - begin
        if progress:
            print(f"[{NAME}] {label}: Lava run of {seconds[label]:.0f} s", file=sys.stderr)

    result: dict[str, Any] = {
        "benchmark": NAME,
        "quick": quick,
        "bundle": str(path.relative_to(ROOT)),
        "data": str(data.relative_to(ROOT)),
        "split": "val",
        "queries": len(queries),
        "tc": tc,
        "architecture": arch,
        "netx": {"neuron": "CUBA pair over [W; -W]", "spike_weight": SPIKE_WEIGHT, "input_message_bits": MESSAGE_BITS},
        "lava_run_s": seconds,
        "variants": {},
    }
    for label, variant in variants.items():
        sc, runs = variant["scalars"], variant["runs"]
        heads = {}
        for head in ("f", "d"):
            key = f"decoder.{head}.0"
            theta, fire = sc[f"{key}.threshold"], sc[f"{key}.fire"]
            params = variant["netx"][head]
            reference = [run["heads"][head]["spikes"] for run in runs]
            currents = [run["heads"][head]["current"] for run in runs]
            emulated = {
                "model_neuron_numpy": [model_neuron(c, theta, fire) for c in currents],
                "ternary_reset_to_zero": [ternary_reset_to_zero(c, fire) for c in currents],
                "binary_pair_exact": [binary_pair(c, fire) for c in currents],
                "loihi_pair_numpy": [loihi_pair(run["heads"][head]["acc"], params) for run in runs],
            }
            ref_readout = [_readout(bundle, sc, head, s) for s in reference]
            netx_readout = [_readout(bundle, sc, head, s) for s in lava[label][head]]
            error = sum(float(np.abs(a - b).sum()) for a, b in zip(netx_readout, ref_readout))
            scale = sum(float(np.abs(b).sum()) for b in ref_readout)
            differ, rate = _rate(lava[label][head], reference)
            heads[head] = {
                "threshold": theta,
                "firing_point": fire,
                "netx_vth": params["vth"],
                "netx_bias_range": [int(params["bias"].min()), int(params["bias"].max())],
                "neuron_steps": sum(s.size for s in reference),
                "reference_spikes": {
                    "+1": sum(int((s == 1).sum()) for s in reference),
                    "-1": sum(int((s == -1).sum()) for s in reference),
                },  # fmt: skip
                "netx_spikes": {
                    "+1": sum(int((s == 1).sum()) for s in lava[label][head]),
                    "-1": sum(int((s == -1).sum()) for s in lava[label][head]),
                },  # fmt: skip
                "lava_mismatches": differ,
                "lava_mismatch_rate": rate,
                "lava_vs_loihi_pair_numpy_mismatches": _rate(lava[label][head], emulated["loihi_pair_numpy"])[0],
                "numpy_mismatch_rate": {name: _rate(s, reference)[1] for name, s in emulated.items()},
                "readout_relative_l1_error": error / scale if scale else None,
            }
        result["variants"][label] = heads
    result["machine"] = machine_info()
    write_result(NAME, result)
    return result


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """Per variant and head: the Lava run's spike mismatch rate against the integer reference."""
    return {
        label: {h: v["lava_mismatch_rate"] for h, v in heads.items()} for label, heads in result["variants"].items()
    }


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, "10 val queries instead of 50", run, headline)


if __name__ == "__main__":
    sys.exit(main())
