"""``vtg-export --target nir``: the parts of SpikingVTG that NIR can express, as one-input subgraphs.

    vtg-export --target nir --checkpoint C --out model_nir/ [--tc N] [--max-clips N]

NIR (neuromorphs/NIR 1.0) describes networks of fixed-weight synapses and neuron populations whose
incoming edges are summed. SpikingVTG is such a network only in parts: its attention multiplies two
signals and SFG gates the input by a normalised cosine. Wherever a signal leaves the expressible parts,
the host computes what lies between. The export is a **folder**: one NIR file ``<name>.nir`` per
subgraph, each one NIRGraph with exactly one ``input`` and one ``output`` node, and ``manifest.json``
(the ``vtg-nir`` manifest below), which says how the host wires them (``wiring``: per subgraph, where each
part of its input comes from) and lists the files (``files``). Every file loads in the consumers'
importers (nirtorch 2.6's ``nir_to_torch``, snnTorch 1.0's ``import_from_nir``), which hang on a graph with
several Input nodes and return one Output only. There is no top-level NIR graph: the subgraphs are
connected only through host computations, so a graph holding them all would have no edges between
them, and ``nir.read`` gives each of its subgraph nodes an ``input_<name>``/``output_<name>`` pair,
i.e. 17 Input nodes on a 2-layer model; both importers still ran after 120 s on such a file
(format version 2 wrote one). The manifest is the top level.
A subgraph whose input has two parts (attention current and residual spikes) takes their
concatenation, split inside the subgraph by exact selection Affines ``select.<part>`` ([0 I 0], bias
0); its metadata ``input_parts`` gives the parts and widths in order, ``role`` what its output is.
Node names inside follow export/model_map.py: ``<layer>`` for an Affine or Conv1d,
``<population>.neuron`` for its neurons.

**Subgraphs** (NF and 1-bit NF; 1-bit weights as their float values beta sgn(W - mean W) = +-beta;
the token chains act on one token, the tokens are the batch, shape (D,)):

* ``input.video``, ``input.text``: Affine (the host adds the clip positions P, which differ per clip,
  so they are no Affine bias, gates and concatenates: the input current);
* ``input``: input current -> input LIF (x = layer0's input);
* per encoder layer i: ``layer{i}.q`` (x -> Affine, read out), ``layer{i}.k``/``.v`` (x -> Affine ->
  LIF), ``layer{i}.so`` ([attention current; x] -> attn LIF -> Affine -> so LIF <- x, the residual
  edge), ``layer{i}.int`` (so -> Affine, read out before the activation), ``layer{i}.out``
  ([activation; so] -> int LIF -> Affine -> out LIF <- so); the last ``out`` is the encoder's output;
* ``decoder.{f,d}``: the last layer's spikes on the clips (D, clips) -> Conv1d -> IF -> ... -> Conv1d
  read-out (this step's read-out).

**Not exported** (computed by the host between subgraphs):

* the attention products q s_k^T and alpha s_v and ReLU(.)/L: products of two spike trains, where
  NIR's synapses are weights fixed at export time;
* the intermediate activation (GELU or ReLU): NIR 1.0 has no such node;
* with ``model.rate_driven``, the rate drive of the input and intermediate neurons (:data:`RATE_DRIVE`):
  the current whose running mean is the host's value (the gated input current; the activation of the
  running mean of ``layer{i}.int``'s outputs), a stateful product NIR's synapses cannot hold;
* SFG: the attentive sentence pooling, the cosine between each clip's ASR and the sentence, the
  min-max normalisation over the clips and the gating of the next step's video input, i.e. the
  feedback loop from the last layer back to the input; also the ASR traces it reads. Its pooling
  weight W_p is in ``sfg.npz`` (``pool``), its form and constants in the manifest's ``sfg``;
* the temporal mean of the read-outs, softplus of the boundaries, and the clip positions P (the manifest's
  ``positions``), with the heads and the activation the attention and activation steps need (``shape``,
  ``activation``);
* the host input layers (``model.input_mlp``: LayerNorm, Linear, ReLU per modality, once per query before
  ``input.video``/``input.text``; NIR 1.0 has no LayerNorm): their float32 weights are in
  ``host_input.npz`` beside the subgraphs, named as in export/host_input.py;
* the base variant as a whole: LayerNorm sits inside the so and out chains and softmax is global
  (refused with one line, as for Lava); non-spiking checkpoints are refused likewise.

**Time and the consumers' conventions.** u[t+1] = gamma u[t] + I[t] is NIR's LIF,
tau dv/dt = (v_leak - v) + R I, by forward Euler at dt = one timestep = :data:`DT` = 1e-4 s, the dt
snnTorch's import and export and the NIR-to-Lava bridge assume: tau = dt / (1 - gamma),
R = 1 / (1 - gamma), so R dt / tau = 1 (snnTorch imports beta = 1 - dt/tau = gamma and an unscaled
input, threshold v_threshold). The decoders' neurons (gamma = 1), and the encoder's when ``model.leak`` is 1,
are IF with R = 1 read per step,
v[t+1] = v[t] + I[t]: snnTorch's import refuses any other R (an IF has no tau to carry dt).
snnTorch 1.0 then builds a Leaky with beta 0.9 for an IF node, a leak the model does not have: a
runtime must give the decoders' neurons beta = 1.

**Neuron semantics, where NIR differs** (recorded in every neuron node's ``metadata``:
``spikes`` "ternary", ``reset`` "subtract", ``reset_by`` Vth; NIR's fields cannot say them):

* spikes are ternary in SpikingVTG (s = -1 when u <= -r Vth); NIR's LIF/IF emit z in {0, 1}. Splitting
  a population into a positive and a negative one would need the two to share one membrane, which
  NIR cannot express;
* SpikingVTG resets by subtraction (u <- u - Vth s); NIR resets to v_reset (written as 0), snnTorch's
  import to zero;
* SpikingVTG fires at u >= r Vth, NIR at v > v_threshold. ``v_threshold`` is written as the firing
  point r Vth (r = ``model.fire_ratio``, 1 in Eq. 1), what NIR's field means; the amount SpikingVTG
  subtracts on a spike stays Vth (``reset_by``): a runtime that resets by subtraction must subtract
  ``reset_by``, not v_threshold, when r < 1.

A runtime that supplies these semantics (for nirtorch: its ``node_map`` for ``nir.LIF``/``nir.IF``)
reproduces the model's spikes exactly (``tests/test_export_nir.py``); with the importers' own
neurons, only the synapse subgraphs (``input.*``, ``layer{i}.q``, ``layer{i}.int``) are the model's.

The decoders' nodes are shaped for videos of exactly ``--max-clips`` clips (default: the training
length, or 256): the model zeroes spikes on padded clips after every neuron, which a NIRGraph cannot.

``manifest.json`` repeats all of the above in machine-readable form: format, variant, tc, dt, clips,
the files, the wiring, the neuron mapping, the exported and not-exported parts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch

from export.host_input import host_arrays, host_parameters
from export.lava_target import DEFAULT_MAX_CLIPS
from export.model_map import weight_layers
from spiking.config import decoder_warmup_steps
from spiking.inputs import HOST_NORM_EPS
from spiking.quant import effective_weight
from vtg.atomic import atomic_folder
from vtg.errors import UserError
from vtg.json_file import to_json

FORMAT = "vtg-nir"
FORMAT_VERSION = 7  # 2: one subgraph per host boundary, dt = 1e-4, IF with r = 1, reset recorded per neuron; 3: a
# folder of one file per subgraph and manifest.json, no top-level graph (the importers hang on it); 4: host_input;
# 5: initial_gate, the first step's gate; 6: rate_driven and the host's rate drive; 7: sfg.npz (W_p) and what the
# host needs besides it (heads, activation, SFG's form and eps, the positions)
MANIFEST = "manifest.json"
HOST_INPUT_FILE = "host_input.npz"  # the host input layers' weights (model.input_mlp), when the model has them
SFG_FILE = "sfg.npz"  # SFG's pooling weight W_p (D,), float32, named "pool"
DT = 1e-4  # seconds per timestep: the dt snnTorch's import and export and the NIR-to-Lava bridge assume

# what the host computes between one subgraph's output and another's input
HOST_STEPS = {
    "attention": "s_attn current = alpha s_v per head, alpha = ReLU(q s_k^T) / L over the real keys (Eq. 7)",
    "activation": "int current = act(layer{i}.int's output), act = the model's GELU or ReLU",
    "sfg": (
        "F_s = cos(ASR of layer{N-1}.out's spikes on the clips, M), gate = min-max(F_s) over the clips; next "
        "step's input current = [(input.video's output + P) * gate; input.text's output] on real tokens"
    ),
    "readout": "f = mean of decoder.f's output over the steps after decoder_warmup_steps (the decoders run from "
    "rest from then on); d = softplus(the same mean of decoder.d's output)",
}
# with model.rate_driven (spiking.neuron.RateDrivenCurrent): the current whose running mean is the value P
RATE_DRIVE = (
    "I[t] = N[t] P[t] - gamma N[t-1] P[t-1], N[t] = gamma N[t-1] + 1 (N[1] = 1; no second term at the first "
    "step), gamma = neuron.leak, P the value the host computed: for input, sfg's gated input current; for "
    "layer{i}.out's activation part, act(m[t]), m[t] = (gamma N[t-1] m[t-1] + y[t]) / N[t] the running mean of "
    "layer{i}.int's outputs y (W times the self-output's ASR, plus b)"
)

# recorded in every neuron node's metadata: what NIR's LIF/IF fields cannot say (module docstring)
NEURON_SEMANTICS = {
    "spikes": "ternary: s = [v >= v_threshold] - [v <= -v_threshold] in {-1, 0, 1}",
    "reset": "subtract",  # v <- v - reset_by s, in place of NIR's v <- v_reset
}


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float32).cpu().numpy()


class _Subgraph:
    """One NIRGraph with one ``input`` node (the concatenation of ``parts``) and one ``output`` node.

    Every method adds one node and an edge from each of ``sources`` to it, and returns the node's name.
    """

    def __init__(self, model: Any, clips: int, parts: dict[str, int], shape: tuple[int, ...]):
        self.layers = weight_layers(model)  # bundle name -> Linear or Conv1d (1-bit or not)
        self.config, self.clips, self.parts = model.config, clips, parts
        self.nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(shape)})}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node: nir.NIRNode, *sources: str) -> str:
        self.nodes[name] = node
        self.edges.extend((source, name) for source in sources)
        return name

    def part(self, name: str) -> str:
        """The input's part ``name`` (an Affine [0 I 0], bias 0: exact) or the whole input if it has one part."""
        if len(self.parts) == 1:
            return "input"
        names = list(self.parts)
        start = sum(self.parts[part] for part in names[: names.index(name)])
        width, total = self.parts[name], sum(self.parts.values())
        select = np.zeros((width, total), np.float32)
        select[:, start : start + width] = np.eye(width, dtype=np.float32)
        return self.add(f"select.{name}", nir.Affine(weight=select, bias=np.zeros(width, np.float32)), "input")

    def synapse(self, name: str, source: str) -> str:
        """The weight layer ``name``: Affine (out, in) for a linear, Conv1d (C_out, C_in, k) over the clips."""
        layer = self.layers[name]
        weight, bias = _array(effective_weight(layer)), _array(layer.bias)  # +-beta when 1-bit
        if weight.ndim == 2:
            return self.add(name, nir.Affine(weight=weight, bias=bias), source)
        padding = weight.shape[2] // 2  # 'same', as the model's
        conv = nir.Conv1d(self.clips, weight, stride=1, padding=padding, dilation=1, groups=1, bias=bias)
        return self.add(name, conv, source)

    def neuron(self, population: str, shape: tuple[int, ...], *sources: str, decoder: bool = False) -> str:
        """Neurons ``<population>.neuron``: LIF with the encoder's leak, or IF (the decoders, and an encoder
        of leak 1: gamma = 1)."""
        config = self.config
        threshold = np.full(shape, config.fire_ratio * config.threshold, np.float32)  # the firing point
        zeros = np.zeros(shape, np.float32)
        metadata = {**NEURON_SEMANTICS, "reset_by": float(config.threshold), "population": population}
        if decoder or config.leak == 1.0:  # gamma = 1: no leak, an IF neuron (a LIF's tau would be infinite)
            r = np.ones(shape, np.float32)  # v[t+1] = v[t] + I[t]: snnTorch's import accepts r = 1 only
            node = nir.IF(r=r, v_threshold=threshold, v_reset=zeros, metadata=metadata)
        else:
            tau = np.full(shape, DT / (1.0 - config.leak), np.float32)
            r = np.full(shape, 1.0 / (1.0 - config.leak), np.float32)  # r dt / tau = 1: the current enters unscaled
            node = nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=threshold, v_reset=zeros, metadata=metadata)
        return self.add(f"{population}.neuron", node, *sources)

    def graph(self, source: str, shape: tuple[int, ...], role: str) -> nir.NIRGraph:
        self.add("output", nir.Output(output_type={"output": np.array(shape)}), source)
        metadata = {"role": role, "input_parts": json.dumps(self.parts)}
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata)


def subgraphs(model: Any, clips: int) -> dict[str, nir.NIRGraph]:
    """Name -> one-input, one-output NIRGraph of an NF or 1-bit NF SpikingVTG ``model`` (module docstring)."""
    config = model.config
    d, ffn = config.hidden_dim, config.ffn_dim  # one token's widths
    graphs: dict[str, nir.NIRGraph] = {}

    def sub(parts: dict[str, int], shape: tuple[int, ...] | None = None) -> _Subgraph:
        return _Subgraph(model, clips, parts, shape or (sum(parts.values()),))

    for modality, layer in (("video", model.inputs.video), ("text", model.inputs.text)):
        g = sub({f"{modality} features (last level)": layer.in_features})
        role = f"one token's projection (without the clip positions), to the host: {HOST_STEPS['sfg']}"
        graphs[f"input.{modality}"] = g.graph(g.synapse(f"input.{modality}", "input"), (d,), role)
    g = sub({"input current (host: sfg)": d})
    graphs["input"] = g.graph(g.neuron("input", (d,), "input"), (d,), "input spikes: layer0's input x")

    for i in range(config.num_layers):
        name = f"layer{i}"
        g = sub({"x": d})
        graphs[f"{name}.q"] = g.graph(
            g.synapse(f"{name}.q", "input"), (d,), f"real-valued query: {HOST_STEPS['attention']}"
        )
        for part in ("k", "v"):
            g = sub({"x": d})
            spikes = g.neuron(f"{name}.{part}", (d,), g.synapse(f"{name}.{part}", "input"))
            graphs[f"{name}.{part}"] = g.graph(spikes, (d,), f"{part} spikes: {HOST_STEPS['attention']}")
        g = sub({"attention current (host: attention)": d, "x": d})
        attn = g.neuron(f"{name}.attn", (d,), g.part("attention current (host: attention)"))
        so = g.neuron(f"{name}.so", (d,), g.synapse(f"{name}.so", attn), g.part("x"))  # x: the residual edge
        graphs[f"{name}.so"] = g.graph(so, (d,), "so spikes")
        g = sub({"so": d})
        current = g.synapse(f"{name}.int", "input")
        graphs[f"{name}.int"] = g.graph(
            current, (ffn,), f"intermediate current before the activation: {HOST_STEPS['activation']}"
        )
        g = sub({"activation (host: activation)": ffn, "so": d})
        inter = g.neuron(f"{name}.int", (ffn,), g.part("activation (host: activation)"))
        out = g.neuron(f"{name}.out", (d,), g.synapse(f"{name}.out", inter), g.part("so"))  # so: the residual edge
        last = i == config.num_layers - 1
        role = (
            f"the encoder's spikes: their ASR for SFG ({HOST_STEPS['sfg']}); clips to the decoders"
            if last
            else f"layer{i + 1}'s input x"
        )
        graphs[f"{name}.out"] = g.graph(out, (d,), role)

    for head, decoder in (("f", model.f_decoder), ("d", model.d_decoder)):
        g = sub({"encoder spikes on the clips (D, clips)": d}, (d, clips))
        h = "input"
        for j in range(len(decoder.neurons)):
            h = g.neuron(f"decoder.{head}.{j}", (d, clips), g.synapse(f"decoder.{head}.{j}", h), decoder=True)
        readout = g.synapse(f"decoder.{head}.{len(decoder.neurons)}", h)
        shape = (decoder.convs[-1].out_channels, clips)
        graphs[f"decoder.{head}"] = g.graph(readout, shape, f"this step's read-out: {HOST_STEPS['readout']}")
    return graphs


def files(names: list[str]) -> dict[str, str]:
    """Subgraph name -> its file in the export folder."""
    return {name: f"{name}.nir" for name in names}


def wiring(num_layers: int, host_layers: int, rate_driven: bool) -> dict[str, dict[str, str]]:
    """Subgraph -> its input parts -> where each comes from (another subgraph's output, or a host step)."""
    through = f" through the host input layers ({HOST_INPUT_FILE})" if host_layers else ""
    driven = ", then its rate drive (host: rate_drive)" if rate_driven else ""
    wires: dict[str, dict[str, str]] = {
        "input.video": {"video features (last level)": f"host: the video's features{through}"},
        "input.text": {"text features (last level)": f"host: the query's features{through}"},
        "input": {"input current (host: sfg)": f"host: sfg, from input.video, input.text and the ASR{driven}"},
    }
    x = "input"
    for i in range(num_layers):
        name = f"layer{i}"
        wires.update({f"{name}.{part}": {"x": x} for part in ("q", "k", "v")})
        wires[f"{name}.so"] = {"attention current (host: attention)": f"host: attention of {name}.q, .k, .v", "x": x}
        wires[f"{name}.int"] = {"so": f"{name}.so"}
        activation = f"of the running mean of {name}.int's outputs{driven}" if rate_driven else f"of {name}.int"
        wires[f"{name}.out"] = {"activation (host: activation)": f"host: activation {activation}", "so": f"{name}.so"}
        x = f"{name}.out"
    for head in ("f", "d"):
        wires[f"decoder.{head}"] = {"encoder spikes on the clips (D, clips)": f"{x} on the clips, transposed"}
    return wires


def manifest(model: Any, clips: int, tc: int) -> dict[str, Any]:
    """The export's manifest.json: what was exported, the files, how the subgraphs connect, how the neurons map."""
    config = model.config
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": config.variant,
        "tc": tc,
        "dt": DT,
        "clips": clips,
        "weights": "1-bit: beta * sgn(W - mean W) as float" if config.binary else "float",
        "files": files(list(wiring(config.num_layers, config.host_input_layers, config.rate_driven))),
        "order": "per step, subgraphs in wiring order: each reads what the others wrote in this same step",
        "decoder_warmup_steps": decoder_warmup_steps(config.decoder_warmup, tc),
        "initial_gate": config.initial_gate,  # SFG's gate of the first step, before any score
        "decoder_schedule": (
            "the decoder subgraphs start from rest after the first decoder_warmup_steps steps and read the "
            "encoder from then on; f and d are the means of their read-outs over the steps they ran"
        ),
        "rate_driven": config.rate_driven,
        "shape": {"hidden_dim": config.hidden_dim, "num_heads": config.num_heads, "num_layers": config.num_layers},
        "activation": config.activation,  # the host's act of layer{i}.int's output: "gelu" (erf form) or "relu"
        "positions": "P[i, 2k] = sin(i / 10000^(2k / D)), P[i, 2k + 1] = cos(i / 10000^(2k / D)), clip i from 0",
        "sfg": {
            "enabled": config.sfg,  # false: every gate after the first is 1 (the first is initial_gate)
            "file": SFG_FILE,
            "sentence": "M = sum_j phi_j Q_j over the real query tokens, Q = input.text's output, "
            "phi_j = (1 + ReLU(Q_j . W_p)) / Lq, W_p = pool in file",
            "score": "F_s = a . M / (sqrt(|a|^2 + eps^2) max(|M|, flat)), a the clip's ASR of the last layer's "
            "spikes (sum_tau gamma^(t - tau) s / sum_tau gamma^(t - tau))",
            "eps": model.sfg.eps,
            "flat": model.sfg.flat,
            "gate": "(F_s - min F_s) / (max F_s - min F_s) over the real clips; 1 on every clip where max - min < flat",
        },
        "wiring": wiring(config.num_layers, config.host_input_layers, config.rate_driven),
        "host_input": {
            "layers": config.host_input_layers,
            "file": HOST_INPUT_FILE if config.host_input_layers else None,
            "step": "per modality, once per query: x <- ReLU(W_j LN_j(x) + b_j), j = 0 .. layers - 1",
            "layernorm_eps": HOST_NORM_EPS,
            "arrays": sorted(host_parameters(model)),
        },
        "neuron": {
            "model": (
                "u[t+1] = gamma u[t] + I[t]; s = [u >= r Vth] - [u <= -r Vth] in {-1, 0, 1}; u <- u - Vth s "
                "(r = fire_ratio)"
            ),
            "leak": config.leak,
            "threshold": config.threshold,
            "fire_ratio": config.fire_ratio,
            "firing_point": config.fire_ratio * config.threshold,
            "reset_by": config.threshold,
            "decoder_leak": 1.0,
            "as_nir": (
                "LIF: tau = dt/(1-gamma), r = 1/(1-gamma) (r dt / tau = 1), v_leak = 0, v_threshold = firing_point, "
                "v_reset = 0, dt = 1e-4; decoders: IF with r = 1, read per step (v[t+1] = v[t] + I[t])"
            ),
            "per_node_metadata": {**NEURON_SEMANTICS, "reset_by": "Vth"},
            "differences": [
                "ternary spikes: NIR emits {0, 1}, SpikingVTG also -1 at u <= -firing_point",
                "reset: NIR to v_reset, SpikingVTG by subtracting reset_by (Vth, also when fire_ratio < 1)",
                "firing: NIR at v > v_threshold, SpikingVTG at u >= firing_point",
                "snnTorch 1.0 imports IF as Leaky with beta 0.9: the decoders' neurons must not leak (gamma = 1)",
            ],
        },
        "exported": [
            "input projections (Affine, without the clip positions)",
            "input neurons",
            (
                "per encoder layer: q, k, v Affines; k, v, attn, so, int, out neurons; so and out Affines with "
                "residual edges; int Affine"
            ),
            "decoders: Conv1d + IF chains and the read-out Conv1d, for videos of exactly 'clips' clips",
        ],
        "not_exported": {
            **HOST_STEPS,
            **({"rate_drive": RATE_DRIVE} if config.rate_driven else {}),
            "products": "attention products between two spike trains (q s_k^T, alpha s_v)",
            "feedback": "SFG's gate of the next step's input from the last layer's ASR (the feedback loop)",
            "layernorm_softmax": "base variant only (refused): LayerNorm and softmax",
        },
    }


def export(model: Any, checkpoint: dict[str, Any], args: argparse.Namespace) -> Path:
    """Write the subgraphs of ``model`` (one NIR file each, HDF5 by nir.write) and manifest.json into the folder
    ``args.out``; return its path."""
    vtg = checkpoint.get("vtg", {}) if isinstance(checkpoint, dict) else {}
    name = vtg.get("model_name")
    if name != "spikingvtg":
        raise UserError(f"{args.checkpoint}: model '{name}' is not spiking; the nir target exports spikingvtg models")
    if model.config.variant == "base":
        raise UserError(
            f"{args.checkpoint}: variant 'base' cannot be mapped to NIR (LayerNorm inside the neuron chains, softmax "
            "across tokens); export an 'nf' or '1bit_nf' model"
        )
    tc = args.tc if args.tc is not None else model.config.eval_tc
    if tc < 1:
        raise UserError(f"option --tc: expected at least 1, got {tc}")
    out = Path(args.out)  # checked by export/command.py: a folder, or a path where one can be made
    clips = args.max_clips or vtg.get("train_config", {}).get("max_video_len") or DEFAULT_MAX_CLIPS
    model = model.float().eval()
    graphs, contents = subgraphs(model, clips), manifest(model, clips, tc)
    replaced = written_files(out)  # an earlier export's files: those this one does not write go
    with atomic_folder(out) as folder:
        for name, file in contents["files"].items():
            nir.write(folder / file, graphs[name])
        if host := host_arrays(model):
            np.savez(folder / HOST_INPUT_FILE, **{name: array.astype(np.float32) for name, array in host.items()})
        pool = model.sfg.pool.weight.detach().numpy()[0]  # (D,)
        np.savez(folder / SFG_FILE, pool=pool.astype(np.float32))
        (folder / MANIFEST).write_text(to_json(contents, indent=1) + "\n")
    for stale in sorted(replaced - listed_files(contents)):
        if not (out / stale).is_file():
            continue
        (out / stale).unlink()
        print(f"vtg-export: removed {out / stale} (of the export this one replaces)", file=sys.stderr)
    return out


def written_files(folder: Path) -> set[str]:
    """The files a vtg-nir manifest in ``folder`` lists; none for a folder without one (another program's
    manifest.json included)."""
    try:
        contents = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return listed_files(contents) if isinstance(contents, dict) and contents.get("format") == FORMAT else set()


def listed_files(contents: dict[str, Any]) -> set[str]:
    """The files a vtg-nir manifest lists: its subgraphs, host input and SFG weights, by name only (a crafted
    manifest must not reach outside the folder, nor name the manifest itself)."""
    try:
        listed = set(contents["files"].values()) | {contents.get("host_input", {}).get("file")}
        listed |= {contents.get("sfg", {}).get("file")}
    except (AttributeError, KeyError, TypeError):
        return set()
    return {
        name
        for name in listed
        if isinstance(name, str) and Path(name).name == name and name not in ("", "..", MANIFEST)
    }
