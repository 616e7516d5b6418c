"""One timestep of SpikingVTG as a pure function (inputs, state) -> (outputs, spikes, state), for ONNX.

:meth:`spiking.model.SpikingVTG.step` keeps its state inside the neurons (``TernaryLIF.mem`` and the
ASR trace) and the simulation loop (the gate, the sums of the decoders' read-outs). An edge runtime
holds that state itself and calls the network Tc times, so :class:`StepModule` makes every piece of
it an explicit tensor: it loads the state into the model, runs one ``step`` and reads the state back.
One call is exactly one iteration of :meth:`SpikingVTG.simulate`; the outputs after call t are the
model's outputs at Tc = t, so a runtime may stop at any step (the energy-accuracy trade-off).

Inputs (B clips-batch, Lv clips, Lq query tokens, L = Lv + Lq, D hidden, F ffn)::

    video (B, Lv, Dv)   text (B, Lq, Dt)     features of the last backbone level, the same at every step
    video_mask (B, Lv)  text_mask (B, Lq)    bool, True on real clips / tokens

State (``state_names``; :func:`initial_state` gives the state at rest, all zeros but the gate)::

    mem.<population>     membrane potential of every neuron population (export/model_map.py names):
                         (B, L, D) input and encoder (B, L, F for layer{i}.int), (B, D, Lv) decoders
    asr.sum (B, L, D)    sum_tau gamma^(t-tau) s[tau] of the last layer's output neurons (SFG's ASR)
    asr.norm (1,)        sum_tau gamma^(t-tau); the ASR is asr.sum / asr.norm
    gate (B, Lv)         the gate of this step's video input (model.initial_gate x the video mask at the first step)
    foreground.sum (B, Lv), boundary.sum (B, Lv, 2), steps (1,)   sums of the decoders' read-outs

Outputs: ``foreground_logits`` (B, Lv) and ``boundary`` (B, Lv, 2) (temporal means so far, the
boundary through softplus), ``saliency`` (B, Lv) (SFG's score), then ``spikes.<population>`` (the
spikes of this step, same shapes as the membranes), then the next state in ``state_names`` order.

The 1-bit layers (Brevitas) are replaced by plain layers holding their effective weights beta sgn(.)
(:func:`float_copy`): the exported graph has ordinary float weights of values +-beta.

The neurons are the model's own (:class:`spiking.neuron.TernaryLIF`, copied with the model), so the
graph fires where they do, at the firing point |u| >= r Vth (r = ``model.fire_ratio``), and subtracts
Vth; both are constants of the traced graph.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv1d, QuantLinear
from torch import nn

from export.model_map import neuron_populations, weight_layers
from spiking.quant import effective_weight

FEATURE_INPUTS = ("video", "text", "video_mask", "text_mask")
OUTPUTS = ("foreground_logits", "boundary", "saliency")


def _plain(layer: nn.Module) -> nn.Module:
    """A float ``nn.Linear``/``nn.Conv1d`` computing what the 1-bit ``layer`` computes."""
    if isinstance(layer, QuantLinear):
        plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    else:
        plain = nn.Conv1d(layer.in_channels, layer.out_channels, layer.kernel_size, padding=layer.padding)
    with torch.no_grad():
        plain.weight.copy_(effective_weight(layer))
        if layer.bias is not None:
            plain.bias.copy_(layer.bias)
    return plain


def float_copy(model: nn.Module) -> nn.Module:
    """A float32 copy of ``model`` in eval mode whose 1-bit layers are plain layers with weights beta sgn(.)."""
    copied = copy.deepcopy(model).float().eval()
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (QuantLinear, QuantConv1d)):
                setattr(parent, name, _plain(child))
    return copied


class StepModule(nn.Module):
    """``forward(video, text, video_mask, text_mask, *state)`` -> (outputs, spikes, next state), flat tuples."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = float_copy(model)
        self.populations = neuron_populations(self.model)  # name -> TernaryLIF, in a fixed order
        self.asr_neuron = self.model.layers[-1].out_lif
        self.state_names = [f"mem.{name}" for name in self.populations] + [
            "asr.sum",
            "asr.norm",
            "gate",
            "foreground.sum",
            "boundary.sum",
            "steps",
        ]
        self.spike_names = [f"spikes.{name}" for name in self.populations]

    def initial_state(self, video_mask: torch.Tensor, text_mask: torch.Tensor) -> list[torch.Tensor]:
        """The state at rest for a batch with these masks (B, Lv), (B, Lq): zeros, the gate = the video mask."""
        batch, clips = video_mask.shape
        tokens = clips + text_mask.shape[1]
        hidden = self.model.config.hidden_dim
        layers = weight_layers(self.model)  # a population's width is that of the layer feeding it, of the same name

        def membrane(name: str) -> torch.Tensor:
            if name.startswith("decoder."):
                return torch.zeros(batch, layers[name].out_channels, clips)  # (B, C, Lv)
            width = layers[name].out_features if name in layers else hidden  # input and attn neurons: D
            return torch.zeros(batch, tokens, width)  # (B, L, width)

        return [membrane(name) for name in self.populations] + [
            torch.zeros(batch, tokens, hidden),  # asr.sum
            torch.zeros(1),  # asr.norm
            self.model.config.initial_gate * video_mask.float(),  # gate: g0 at the first step
            torch.zeros(batch, clips),  # foreground.sum
            torch.zeros(batch, clips, 2),  # boundary.sum
            torch.zeros(1),  # steps
        ]

    def forward(self, video, text, video_mask, text_mask, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.state_names, state))
        for name, neuron in self.populations.items():
            neuron.reset_state()
            neuron.mem = named[f"mem.{name}"]
        # the ASR trace is read by SFG within the step; the neuron's (private) trace is the model's own
        self.asr_neuron._rate_sum = named["asr.sum"]
        self.asr_neuron._rate_norm = named["asr.norm"]
        spikes: dict[str, torch.Tensor] = {}
        hooks = [
            neuron.register_forward_hook(lambda module, inputs, output, name=name: spikes.__setitem__(name, output))
            for name, neuron in self.populations.items()
        ]
        batch = {"video": video[:, :, None], "text": text[:, :, None]}  # (B, Lv, 1, Dv), (B, Lq, 1, Dt): one level
        batch.update(video_mask=video_mask, text_mask=text_mask)
        try:
            ctx = self.model.prepare(batch)
            out = self.model.step(ctx, named["gate"])
        finally:
            for hook in hooks:
                hook.remove()
        steps = named["steps"] + 1.0  # (1,)
        foreground_sum = named["foreground.sum"] + out.foreground  # (B, Lv)
        boundary_sum = named["boundary.sum"] + out.boundary  # (B, Lv, 2)
        outputs = (foreground_sum / steps, F.softplus(boundary_sum / steps), out.score)
        next_state = [neuron.mem for neuron in self.populations.values()] + [
            self.asr_neuron._rate_sum,
            self.asr_neuron._rate_norm,
            out.gate,
            foreground_sum,
            boundary_sum,
            steps,
        ]
        return (*outputs, *(spikes[name] for name in self.populations), *next_state)

    def split(self, results: list[Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        """A flat result tuple -> (outputs by name, spikes by population, next state in order)."""
        outputs = dict(zip(OUTPUTS, results[: len(OUTPUTS)]))
        first_state = len(OUTPUTS) + len(self.spike_names)
        spikes = dict(zip(self.populations, results[len(OUTPUTS) : first_state]))
        return outputs, spikes, list(results[first_state:])
