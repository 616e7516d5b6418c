"""``vtg-export --target nir``: the parts of SpikingVTG that NIR can express, as one NIRGraph.

    vtg-export --target nir --checkpoint C --out model.nir [--tc N] [--max-clips N]

NIR (neuromorphs/NIR 1.0) describes networks of fixed-weight synapses and neuron populations whose
incoming edges are summed. SpikingVTG is such a network only in parts: its attention multiplies two
signals and SFG gates the input by a normalised cosine. The graph therefore holds the expressible
parts, and wherever a signal leaves them it ends in an ``Output`` node (``out.<signal>``) and comes
back through an ``Input`` node (``in.<signal>``); the host computes what lies between (each such
node's metadata ``role`` says what). Node names follow export/model_map.py: ``<layer>`` for an
Affine or Conv1d, ``<population>.neuron`` for its neurons.

**Exported** (NF and 1-bit NF; 1-bit weights as their float values beta sgn(W - mean W) = +-beta):

* input projections ``input.video``, ``input.text`` (Affine; the host adds the clip positions P,
  which differ per clip, so they are no Affine bias, and gates and concatenates: ``in.input``);
* the input neurons and, per encoder layer i (input x = the previous population's spikes):
  ``layer{i}.q`` (Affine, read out), ``layer{i}.k``/``.v`` (Affine -> LIF, read out),
  ``in.layer{i}.attn`` -> attn LIF -> ``layer{i}.so`` (Affine) -> so LIF <- x (residual edge),
  so LIF -> ``layer{i}.int`` (Affine, read out before the activation),
  ``in.layer{i}.int`` -> int LIF -> ``layer{i}.out`` (Affine) -> out LIF <- so LIF (residual edge);
  the last out LIF is read out as ``out.encoder``. These chains act on one token: the tokens are
  the batch of the graph (shape (D,));
* the decoders: ``in.decoder.{f,d}`` (the last layer's spikes on the video's clips, (D, clips))
  -> Conv1d -> IF -> ... -> Conv1d read-out ``out.decoder.{f,d}`` (per-step read-out).

**Not exported** (computed by the host between an ``out.`` and an ``in.`` node):

* the attention products q s_k^T and alpha s_v and ReLU(.)/L: products of two spike trains, where
  NIR's synapses are weights fixed at export time;
* the intermediate activation (GELU or ReLU): NIR 1.0 has no such node;
* SFG: the attentive sentence pooling, the cosine between each clip's ASR and the sentence, the
  min-max normalisation over the clips and the gating of the next step's video input, i.e. the
  feedback loop from the last layer back to the input; also the ASR traces it reads;
* the temporal mean of the read-outs, softplus of the boundaries, and the clip positions P;
* the base variant as a whole: LayerNorm sits inside the so and out chains and softmax is global
  (refused with one line, as for Lava); non-spiking checkpoints are refused likewise.

**Neuron semantics, where NIR differs** (so a NIR backend approximates the exported neurons):

* spikes are ternary in SpikingVTG (s = -1 when u <= -Vth); NIR's LIF/IF emit z in {0, 1}. Splitting
  a population into a positive and a negative one would need the two to share one membrane, which
  NIR cannot express;
* SpikingVTG resets by subtraction (u <- u - Vth s); NIR resets to v_reset (written as 0);
* SpikingVTG fires at u >= r Vth, NIR at v > v_threshold. ``v_threshold`` is written as the firing
  point r Vth (r = ``model.fire_ratio``, 1 in Eq. 1), what NIR's field means; the amount SpikingVTG
  subtracts on a spike stays Vth, which NIR cannot express (its reset is to v_reset): the manifest's
  ``neuron`` gives both (``firing_point`` and ``reset_by``), and a runtime that resets by subtraction
  must subtract ``reset_by``, not v_threshold, when r < 1;
* time: u[t+1] = gamma u[t] + I[t] is NIR's LIF, tau dv/dt = (v_leak - v) + R I, integrated with
  forward Euler at dt = one timestep: tau = dt / (1 - gamma), R = 1 / (1 - gamma), v_leak = 0, with
  dt = :data:`DT`; a population with gamma = 1 (the decoders) is NIR's IF, dv/dt = R I, R = 1 / dt.

The decoders' nodes are shaped for videos of exactly ``--max-clips`` clips (default: the training
length, or 256): the model zeroes spikes on padded clips after every neuron, which a NIRGraph cannot.

The graph's metadata ``vtg_manifest`` (a JSON string) repeats all of the above in machine-readable
form: format, variant, tc, dt, clips, the neuron mapping, and the exported and not-exported parts.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch

from export.lava_target import DEFAULT_MAX_CLIPS
from export.model_map import weight_layers
from spiking.quant import effective_weight
from vtg.engine.atomic import atomic_write
from vtg.errors import UserError

FORMAT = "vtg-nir"
FORMAT_VERSION = 1
DT = 1e-3  # seconds per timestep: the time unit of tau and R (1 ms, Loihi's customary step)

# what the host computes between an out. node and the matching in. node
HOST_STEPS = {
    "attention": "s_attn current = alpha s_v per head, alpha = ReLU(q s_k^T) / L over the real keys (Eq. 7)",
    "activation": "int current = act(out.layer{i}.int), act = the model's GELU or ReLU",
    "sfg": (
        "F_s = cos(ASR of out.encoder on the clips, M), gate = min-max(F_s) over the clips; next step's "
        "in.input = [(out.input.video + P) * gate; out.input.text] on real tokens"
    ),
    "readout": "f = mean over Tc of out.decoder.f; d = softplus(mean over Tc of out.decoder.d)",
}


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float32).cpu().numpy()


class _GraphBuilder:
    """Nodes and edges of the NIRGraph being written, with the neuron mapping of the module docstring.

    Every method adds one node and an edge from each of ``sources`` to it, and returns the node's name.
    """

    def __init__(self, model: Any, clips: int):
        self.layers = weight_layers(model)  # bundle name -> Linear or Conv1d (1-bit or not)
        self.gamma, self.clips = model.config.leak, clips
        self.firing_point = model.config.fire_ratio * model.config.threshold  # NIR's v_threshold (docstring)
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node: nir.NIRNode, *sources: str) -> str:
        self.nodes[name] = node
        self.edges.extend((source, name) for source in sources)
        return name

    def synapse(self, name: str, source: str) -> str:
        """The weight layer ``name``: Affine (out, in) for a linear, Conv1d (C_out, C_in, k) over the clips."""
        layer = self.layers[name]
        weight, bias = _array(effective_weight(layer)), _array(layer.bias)  # +-beta when 1-bit
        if weight.ndim == 2:
            return self.add(name, nir.Affine(weight=weight, bias=bias), source)
        padding = weight.shape[2] // 2  # 'same', as the model's
        conv = nir.Conv1d(self.clips, weight, stride=1, padding=padding, dilation=1, groups=1, bias=bias)
        return self.add(name, conv, source)

    def neuron(self, population: str, shape: tuple[int, ...], *sources: str, gamma: float | None = None) -> str:
        """Neurons ``<population>.neuron`` with the encoder's leak, or ``gamma`` (1 in the decoders)."""
        gamma = self.gamma if gamma is None else gamma
        threshold = np.full(shape, self.firing_point, np.float32)
        zeros = np.zeros(shape, np.float32)
        if gamma == 1.0:
            node = nir.IF(r=np.full(shape, 1.0 / DT, np.float32), v_threshold=threshold, v_reset=zeros)
        else:
            tau = np.full(shape, DT / (1.0 - gamma), np.float32)
            r = np.full(shape, 1.0 / (1.0 - gamma), np.float32)
            node = nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=threshold, v_reset=zeros)
        return self.add(f"{population}.neuron", node, *sources)

    def output(self, signal: str, shape: tuple[int, ...], role: str, source: str) -> str:
        """``out.<signal>``: where a signal leaves the graph for the host (``role`` says what the host does)."""
        node = nir.Output(output_type={"output": np.array(shape)}, metadata={"role": role})
        return self.add(f"out.{signal}", node, source)

    def input(self, signal: str, shape: tuple[int, ...], role: str) -> str:
        """``in.<signal>``: where the host's result (``role``) enters the graph."""
        return self.add(f"in.{signal}", nir.Input(input_type={"input": np.array(shape)}, metadata={"role": role}))


def build_graph(model: Any, clips: int, tc: int) -> nir.NIRGraph:
    """The NIRGraph of an NF or 1-bit NF SpikingVTG ``model`` (see the module docstring)."""
    config = model.config
    d, ffn = (config.hidden_dim,), (config.ffn_dim,)  # one token's shapes
    attention, activation, sfg = HOST_STEPS["attention"], HOST_STEPS["activation"], HOST_STEPS["sfg"]
    graph = _GraphBuilder(model, clips)

    for modality, layer in (("video", model.inputs.video), ("text", model.inputs.text)):
        features = graph.input(modality, (layer.in_features,), f"{modality} features of one token (last level)")
        projected = graph.synapse(f"input.{modality}", features)
        graph.output(f"input.{modality}", d, f"projected {modality} token, to the host: {sfg}", projected)
    x = graph.neuron("input", d, graph.input("input", d, f"input current of one token: {sfg}"))

    for i in range(config.num_layers):
        name = f"layer{i}"  # x: this layer's input spikes
        graph.output(f"{name}.q", d, f"real-valued query, to the host: {attention}", graph.synapse(f"{name}.q", x))
        for part in ("k", "v"):
            spikes = graph.neuron(f"{name}.{part}", d, graph.synapse(f"{name}.{part}", x))
            graph.output(f"{name}.{part}", d, f"{part} spikes, to the host: {attention}", spikes)
        attn = graph.neuron(f"{name}.attn", d, graph.input(f"{name}.attn", d, attention))
        so = graph.neuron(f"{name}.so", d, graph.synapse(f"{name}.so", attn), x)  # x: the residual edge
        current = graph.synapse(f"{name}.int", so)
        graph.output(f"{name}.int", ffn, f"intermediate current before the activation: {activation}", current)
        int_spikes = graph.neuron(f"{name}.int", ffn, graph.input(f"{name}.int", ffn, activation))
        x = graph.neuron(f"{name}.out", d, graph.synapse(f"{name}.out", int_spikes), so)  # so: the residual edge
    graph.output("encoder", d, f"last layer's spikes, to the host: its ASR for SFG ({sfg}); clips to the decoders", x)

    for head, decoder in (("f", model.f_decoder), ("d", model.d_decoder)):
        h = graph.input(f"decoder.{head}", (config.hidden_dim, clips), "last layer's spikes on the clips, (D, clips)")
        for j in range(len(decoder.neurons)):
            h = graph.neuron(
                f"decoder.{head}.{j}", (config.hidden_dim, clips), graph.synapse(f"decoder.{head}.{j}", h), gamma=1.0
            )
        readout = graph.synapse(f"decoder.{head}.{len(decoder.neurons)}", h)
        shape = (decoder.convs[-1].out_channels, clips)
        graph.output(f"decoder.{head}", shape, f"this step's read-out: {HOST_STEPS['readout']}", readout)

    metadata = {"vtg_manifest": json.dumps(manifest(model, clips, tc))}
    return nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata=metadata)


def manifest(model: Any, clips: int, tc: int) -> dict[str, Any]:
    """The graph's ``vtg_manifest``: what was exported, what was not, and how the neurons map."""
    config = model.config
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": config.variant,
        "tc": tc,
        "dt": DT,
        "clips": clips,
        "weights": "1-bit: beta * sgn(W - mean W) as float" if config.binary else "float",
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
                "LIF: tau = dt/(1-gamma), r = 1/(1-gamma), v_leak = 0, v_threshold = firing_point, v_reset = 0 "
                "(forward Euler); gamma = 1: IF, r = 1/dt"
            ),
            "differences": [
                "ternary spikes: NIR emits {0, 1}, SpikingVTG also -1 at u <= -firing_point",
                "reset: NIR to v_reset, SpikingVTG by subtracting reset_by (Vth, also when fire_ratio < 1)",
                "firing: NIR at v > v_threshold, SpikingVTG at u >= firing_point",
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
            "products": "attention products between two spike trains (q s_k^T, alpha s_v)",
            "feedback": "SFG's gate of the next step's input from the last layer's ASR (the feedback loop)",
            "layernorm_softmax": "base variant only (refused): LayerNorm and softmax",
        },
    }


def export(model: Any, checkpoint: dict[str, Any], args: argparse.Namespace) -> Path:
    """Write the NIRGraph of ``model`` to ``args.out`` (HDF5, nir.write); return its path."""
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
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"option --out: {out} is a folder; the nir target writes one file (e.g. model.nir)")
    clips = args.max_clips or vtg.get("train_config", {}).get("max_video_len") or DEFAULT_MAX_CLIPS
    graph = build_graph(model.float().eval(), clips, tc)
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    atomic_write(out, lambda file: file.write(buffer.getvalue()))
    return out
