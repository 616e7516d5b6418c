"""Activity probes: spike counts per timestep for the energy estimates (paper Sec. 5.1, Fig. 3b).

The result is ``outputs["activity"]`` of docs/ARCHITECTURE.md: component -> {``spikes`` (Tc,) the sum
of |s| over the batch's real tokens at each timestep (a ternary spike counts |s| = 1, whatever its
sign), ``neurons`` the number of neurons over the real tokens, ``fan_out`` the accumulations that one
spike triggers downstream}. The mean rate (the paper's IFR) is ``spikes / neurons``.

The components, the populations they count and their fan-outs are defined once, from the config, in
:mod:`spiking.populations` (its docstring has the table); here they are hooked onto the model's neuron
modules. The neurons are counted from the hooked outputs (width x real tokens), which the Lava records,
computed from the config, must equal (tests/test_activity_lava_vs_torch.py).

The fan-out of k and v uses the batch's mean real length rounded to an integer; the exact count
for query b is spikes_b x L_b (a batch of one query is exact).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from spiking.populations import CLIPS, TOKENS, activity_components, population_modules, sfg_component


def stack_steps(records: dict[str, list[torch.Tensor]], tc: int) -> dict[str, torch.Tensor]:
    """Each population's per-step records stacked over the Tc steps, (Tc, ...): a population recorded on
    fewer steps (the decoders, which start after their warm-up) had zeros before its first record."""
    stacked = {}
    for name, steps in records.items():
        silent = [steps[0] * 0] * (tc - len(steps))  # a product: a traced zeros_like keeps the traced shape
        stacked[name] = torch.stack(silent + steps)
    return stacked


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
        """The activity dict of ARCHITECTURE.md for the recorded timesteps.

        A neuron called on fewer steps than the others (the decoders, which skip their warm-up steps)
        counts no spikes at the steps before its first call.
        """
        spikes = stack_steps(self.spikes, max(len(counts) for counts in self.spikes.values()))
        return {
            probe.name: {
                "spikes": spikes[probe.name],  # (Tc,)
                "neurons": self.neurons[probe.name],
                "fan_out": probe.fan_out,
            }
            for probe in self.probes
        }


def spiking_vtg_probes(model: nn.Module, token_mask: torch.Tensor, video_mask: torch.Tensor) -> list[Probe]:
    """The probes of a :class:`spiking.model.SpikingVTG` for one batch (token layout [video; text]):
    one per component of :func:`spiking.populations.activity_components` that counts spikes."""
    tokens = token_mask[:, :, None]  # (B, L, 1) for outputs (B, L, width)
    clips = torch.zeros_like(token_mask)  # (B, L): the real video tokens only
    clips[:, : video_mask.shape[1]] = video_mask
    masks = {TOKENS: tokens, CLIPS: clips[:, :, None]}
    channels_first = video_mask[:, None, :]  # (B, 1, Lv) for the decoders' neurons, whose outputs are (B, D, Lv)
    length = max(1, round(float(token_mask.sum(dim=1).float().mean())))
    modules = population_modules(model)
    probes = []
    for component in activity_components(model.config):
        if component.source is None:  # sfg: no neurons (sfg_activity)
            continue
        mask = channels_first if component.source.startswith("decoder.") else masks[component.covers]
        probes.append(Probe(component.name, modules[component.source], mask, component.fan_out_at(length)))
    return probes


def sfg_activity(tc: int, video_mask: torch.Tensor, hidden: int) -> dict:
    """The ``sfg`` entry: no spikes; its per-step FP multiplications (cosine and gate, paper Sec. 4.3)."""
    component, clips = sfg_component(hidden), int(video_mask.sum())
    return {
        "spikes": torch.zeros(tc),
        "neurons": component.neurons(clips, 0),
        "fan_out": component.fan_out,
        "fp_mults": torch.full((tc,), float(component.mults * clips)),
    }
