"""Activity probes: spike counts per timestep for the energy estimates (paper Sec. 5.1, Fig. 3b).

The result is ``outputs["activity"]`` of docs/ARCHITECTURE.md: component -> {``spikes`` (Tc,) the sum
of |s| over the batch's real tokens at each timestep (a ternary spike counts |s| = 1, whatever its
sign), ``neurons`` the number of neurons over the real tokens, ``fan_out`` the accumulations that one
spike triggers downstream}. The mean rate (the paper's IFR) is ``spikes / neurons``.

Components and fan-outs (D hidden size, F ffn size, L mean number of real tokens per query):

==================  =====================================  =========================================
component           neurons                                fan_out
==================  =====================================  =========================================
layer{i}.input      spikes entering layer i (layer 0: the   3 D (the q, k and v projections)
                    SFG-driven input neurons; layer i > 0:
                    layer{i-1}.out, the same population)
layer{i}.k, .v      key and value neurons                  L (q s_k^T and alpha s_v: one
                                                           accumulation per real token)
layer{i}.attn       attention-output neurons               D (self-output projection)
layer{i}.so         self-output neurons                    F (intermediate projection)
layer{i}.int        intermediate neurons                   D (output projection)
layer{i}.out        output neurons                         0 (counted where consumed: the next
                                                           layer's ``input`` or ``decoder.input``)
decoder.input       last layer's spikes on the real clips  k_f C_f + k_d C_d (first convolutions)
decoder.{f,d}.{j}   IF neurons after convolution j         k C (next convolution)
sfg                 none (a real-valued operation):        0, with ``fp_mults`` (Tc,): its FP
                    ``spikes`` are zeros, ``neurons`` the  multiplications per step, 3 D per real
                    real clips                             clip (dot product, norm, gate)
==================  =====================================  =========================================

The fan-out of k and v uses the batch's mean real length rounded to an integer; the exact count
for query b is spikes_b x L_b.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn


@dataclasses.dataclass
class Probe:
    """One component: the neuron module whose output it counts, where (a 0/1 mask broadcastable to the
    output), and the fan-out of one spike."""

    name: str
    neuron: nn.Module
    mask: torch.Tensor
    fan_out: int


class ActivityRecorder:
    """Context manager that hooks the probes' neurons and counts |s| at each call (= timestep)."""

    def __init__(self, probes: list[Probe]):
        self.probes = probes
        self.spikes: dict[str, list[torch.Tensor]] = {probe.name: [] for probe in probes}
        self.neurons: dict[str, int] = {}
        self._handles: list = []

    def _hook(self, probes: list[Probe]):
        masks: dict[str, torch.Tensor] = {}  # each probe's mask in the spikes' dtype, made at the first step

        def count(module: nn.Module, inputs, output: torch.Tensor) -> None:
            spikes = output.detach().abs()
            for probe in probes:
                if probe.name not in masks:
                    masks[probe.name] = probe.mask.to(spikes.dtype)
                    self.neurons[probe.name] = int(torch.broadcast_to(masks[probe.name], spikes.shape).sum())
                self.spikes[probe.name].append((spikes * masks[probe.name]).sum())

        return count

    def __enter__(self) -> ActivityRecorder:
        by_neuron: dict[int, list[Probe]] = {}
        for probe in self.probes:
            by_neuron.setdefault(id(probe.neuron), []).append(probe)
        for probes in by_neuron.values():
            self._handles.append(probes[0].neuron.register_forward_hook(self._hook(probes)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def result(self) -> dict[str, dict]:
        """The activity dict of ARCHITECTURE.md for the recorded timesteps."""
        return {
            probe.name: {
                "spikes": torch.stack(self.spikes[probe.name]),  # (Tc,)
                "neurons": self.neurons[probe.name],
                "fan_out": probe.fan_out,
            }
            for probe in self.probes
        }


def _conv_fan_out(conv: nn.Module) -> int:
    return conv.kernel_size[0] * conv.out_channels


def spiking_vtg_probes(model: nn.Module, token_mask: torch.Tensor, video_mask: torch.Tensor) -> list[Probe]:
    """The probes of a :class:`spiking.model.SpikingVTG` for one batch (token layout [video; text])."""
    tokens = token_mask[:, :, None]  # (B, L, 1)
    clips = torch.zeros_like(token_mask)  # (B, L): the real video tokens only
    clips[:, : video_mask.shape[1]] = video_mask
    hidden = model.config.hidden_dim
    length = max(1, round(float(token_mask.sum(dim=1).float().mean())))
    probes = []
    for i, layer in enumerate(model.layers):
        source = model.input_lif if i == 0 else model.layers[i - 1].out_lif
        probes += [
            Probe(f"layer{i}.input", source, tokens, 3 * hidden),
            Probe(f"layer{i}.k", layer.attention.k_lif, tokens, length),
            Probe(f"layer{i}.v", layer.attention.v_lif, tokens, length),
            Probe(f"layer{i}.attn", layer.attention.attn_lif, tokens, hidden),
            Probe(f"layer{i}.so", layer.so_lif, tokens, model.config.ffn_dim),
            Probe(f"layer{i}.int", layer.int_lif, tokens, hidden),
            Probe(f"layer{i}.out", layer.out_lif, tokens, 0),
        ]
    decoders = {"f": model.f_decoder, "d": model.d_decoder}
    first = sum(_conv_fan_out(decoder.convs[0]) for decoder in decoders.values())
    probes.append(Probe("decoder.input", model.layers[-1].out_lif, clips[:, :, None], first))
    for head, decoder in decoders.items():
        for j, neuron in enumerate(decoder.neurons):
            fan_out = _conv_fan_out(decoder.convs[j + 1])
            probes.append(Probe(f"decoder.{head}.{j}", neuron, video_mask[:, None, :], fan_out))
    return probes


def sfg_activity(tc: int, video_mask: torch.Tensor, hidden: int) -> dict:
    """The ``sfg`` entry: no spikes; its per-step FP multiplications (cosine and gate, paper Sec. 4.3)."""
    clips = int(video_mask.sum())
    return {
        "spikes": torch.zeros(tc),
        "neurons": clips,
        "fan_out": 0,
        "fp_mults": torch.full((tc,), float(3 * hidden * clips)),
    }
