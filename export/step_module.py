"""One timestep of SpikingVTG as a pure function (inputs, state) -> (outputs, spikes, state), for ONNX.

:meth:`spiking.model.SpikingVTG.step` keeps its state inside the neurons (``TernaryLIF.mem`` and the
ASR trace) and the simulation loop (the gate, the sums of the decoders' read-outs). An edge runtime
holds that state itself and calls the network Tc times, so :class:`StepModule` makes every piece of
it an explicit tensor: it loads the state into the model, runs one ``step`` and reads the state back.
One call is exactly one iteration of :meth:`SpikingVTG.simulate`; the outputs after call t are the
model's outputs at Tc = t when the state at rest was made for Tc = t (the decoders' warm-up depends on
Tc; without warm-up a runtime may stop at any step: the energy-accuracy trade-off).

Inputs (B clips-batch, Lv clips, Lq query tokens, L = Lv + Lq, D hidden, F ffn)::

    video (B, Lv, Dv)   text (B, Lq, Dt)     features of the last backbone level, the same at every step
    video_mask (B, Lv)  text_mask (B, Lq)    bool, True on real clips / tokens

State (``state_names``; :func:`initial_state` gives the state at rest for a chosen Tc)::

    mem.<population>     membrane potential of every neuron population (export/model_map.py names):
                         (B, L, D) input and encoder (B, L, F for layer{i}.int), (B, D, Lv) decoders
    rate.<population>.sum (B, L, D), rate.<population>.norm (1,)
                         sum_tau gamma^(t-tau) s[tau] and sum_tau gamma^(t-tau) of a population whose ASR
                         (sum / norm) the model reads: the last layer's output neurons (SFG), and with
                         ``model.rate_driven`` every layer's self-output neurons (the intermediate's P)
    drive.<population>.previous (B, L, width), drive.<population>.norm (1,)
                         with ``model.rate_driven``, the state N[t-1] P[t-1] and N[t-1] of the
                         rate-driven current (:class:`spiking.neuron.RateDrivenCurrent`) feeding the
                         input neurons and every layer{i}.int population (zeros at rest)
    gate (B, Lv)         the gate of this step's video input (model.initial_gate x the video mask at the first step)
    warmup (1,)          the decoders' warm-up steps still to skip: k at rest for the Tc the runtime will run
                         (:func:`spiking.config.decoder_warmup_steps`, k = min(ceil(w Tc), Tc - 1), w Tc
                         rounded to 9 decimals first; w = model.decoder_warmup; 0 without warm-up); while it
                         is above 0 the decoders stay at rest and read nothing, and it counts down
    foreground.sum (B, Lv), boundary.sum (B, Lv, 2), steps (1,)   sums of the decoders' read-outs over the
                         steps they read, and that number of steps

Outputs: ``foreground_logits`` (B, Lv) and ``boundary`` (B, Lv, 2) (temporal means over the steps the
decoders read so far, the sums 0 before the first; the boundary through softplus), ``saliency`` (B, Lv) (SFG's
score), then ``spikes.<population>`` (the spikes of this step, same shapes as the membranes; the
decoders' are 0 in their warm-up), then the next state in ``state_names`` order.

The 1-bit layers (Brevitas) are replaced by plain layers holding their effective weights beta sgn(.)
(:func:`float_copy`): the exported graph has ordinary float weights of values +-beta.

The neurons are the model's own (:class:`spiking.neuron.TernaryLIF`, copied with the model), so the
graph fires where they do, at the firing point |u| >= r Vth (r = ``model.fire_ratio``), and subtracts
Vth; both are constants of the traced graph. One difference is left: the model sums the norms N = gamma N + 1
as Python (float64) numbers, the graph in float32 (a float64 scalar state comes out of torch.onnx.export as
float32), so N can differ by an ulp and, rarely, a membrane within that of the firing point fires in one and
not the other; the export's check, each step from PyTorch's state, is within its tolerance, a free run may
drift (README).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv1d, QuantLinear
from torch import nn

from export.model_map import neuron_populations, weight_layers
from spiking.neuron import RateDrivenCurrent, TernaryLIF
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
        self.decoder_populations = [name for name in self.populations if name.startswith("decoder.")]
        config = self.model.config
        last = f"layer{len(self.model.layers) - 1}.out"  # SFG reads its ASR
        read = [f"layer{i}.so" for i in range(len(self.model.layers))] if config.rate_driven else []
        self.rate_traces: dict[str, TernaryLIF] = {name: self.populations[name] for name in [*read, last]}
        self.drives: dict[str, RateDrivenCurrent] = {}  # population fed -> its rate-driven current
        if config.rate_driven:
            self.drives["input"] = self.model.input_current
            self.drives.update({f"layer{i}.int": layer.int_current for i, layer in enumerate(self.model.layers)})
        self.state_names = (
            [f"mem.{name}" for name in self.populations]
            + [f"rate.{name}.{part}" for name in self.rate_traces for part in ("sum", "norm")]
            + [f"drive.{name}.{part}" for name in self.drives for part in ("previous", "norm")]
            + ["gate", "warmup", "foreground.sum", "boundary.sum", "steps"]
        )
        self.spike_names = [f"spikes.{name}" for name in self.populations]

    def initial_state(self, video_mask: torch.Tensor, text_mask: torch.Tensor, tc: int) -> list[torch.Tensor]:
        """The state at rest for a batch with these masks (B, Lv), (B, Lq), to be run for ``tc`` steps: zeros,
        but the gate (g0 on the real clips) and the decoders' warm-up steps."""
        batch, clips = video_mask.shape
        tokens = clips + text_mask.shape[1]
        config = self.model.config
        layers = weight_layers(self.model)  # a population's width is that of the layer feeding it, of the same name

        def width(name: str) -> int:
            return layers[name].out_features if name in layers else config.hidden_dim  # input and attn neurons: D

        def norm() -> torch.Tensor:
            return torch.zeros(1)  # N = sum_tau gamma^(t - tau)

        def membrane(name: str) -> torch.Tensor:
            if name.startswith("decoder."):
                return torch.zeros(batch, layers[name].out_channels, clips)  # (B, C, Lv)
            return torch.zeros(batch, tokens, width(name))  # (B, L, width)

        return (
            [membrane(name) for name in self.populations]
            + [t for name in self.rate_traces for t in (torch.zeros(batch, tokens, width(name)), norm())]
            + [t for name in self.drives for t in (torch.zeros(batch, tokens, width(name)), norm())]
            + [
                self.model.first_gate(video_mask, torch.float32),  # gate: g0 at the first step
                torch.full((1,), float(config.decoder_warmup_steps(tc))),  # warmup
                torch.zeros(batch, clips),  # foreground.sum
                torch.zeros(batch, clips, 2),  # boundary.sum
                torch.zeros(1),  # steps
            ]
        )

    def forward(self, video, text, video_mask, text_mask, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.state_names, state))
        # a model without warm-up has warmup = 0 at every step: its graph needs no rest to go back to
        warms_up = self.model.config.decoder_warmup > 0
        decoders_at_rest = {name: named[f"mem.{name}"].clone() for name in self.decoder_populations if warms_up}
        # copies: the neurons update their state in place, and the caller's state_in must stay as given
        for name, neuron in self.populations.items():
            neuron.reset_state()
            neuron.mem = named[f"mem.{name}"].clone()
        # the ASR traces are read within the step (the neurons' private traces are the model's own)
        for name, neuron in self.rate_traces.items():
            neuron._rate_sum = named[f"rate.{name}.sum"].clone()
            neuron._rate_norm = named[f"rate.{name}.norm"].clone()
        for name, drive in self.drives.items():
            drive._previous = named[f"drive.{name}.previous"].clone()
            drive._norm = named[f"drive.{name}.norm"].clone()
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
        # in the warm-up the decoders ran on this step's spikes all the same (one graph for every step): their
        # membranes go back to rest and their read-outs and spikes are dropped
        decode = (named["warmup"] <= 0).float()  # (1,) 1 once the warm-up is over
        for name, at_rest in decoders_at_rest.items():
            neuron = self.populations[name]
            neuron.mem = decode * neuron.mem + (1.0 - decode) * at_rest
            spikes[name] = spikes[name] * decode
        steps = named["steps"] + decode  # (1,)
        foreground_sum = named["foreground.sum"] + decode * out.foreground  # (B, Lv)
        boundary_sum = named["boundary.sum"] + decode * out.boundary  # (B, Lv, 2)
        read = steps.clamp(min=1.0)  # (1,) no read-out yet: the sums are 0
        outputs = (foreground_sum / read, F.softplus(boundary_sum / read), out.score)
        next_state = (
            [neuron.mem for neuron in self.populations.values()]
            + [t for neuron in self.rate_traces.values() for t in (neuron._rate_sum, neuron._rate_norm)]
            + [t for drive in self.drives.values() for t in (drive._previous, drive._norm)]
            + [out.gate, (named["warmup"] - 1.0).clamp(min=0.0), foreground_sum, boundary_sum, steps]
        )
        return (*outputs, *(spikes[name] for name in self.populations), *next_state)

    def split(self, results: list[Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        """A flat result tuple -> (outputs by name, spikes by population, next state in order)."""
        outputs = dict(zip(OUTPUTS, results[: len(OUTPUTS)]))
        first_state = len(OUTPUTS) + len(self.spike_names)
        spikes = dict(zip(self.populations, results[len(OUTPUTS) : first_state]))
        return outputs, spikes, list(results[first_state:])
