"""The student's neuron populations and activity components, from its config alone.

One definition, used by the PyTorch probes (spiking/activity.py), the export (export/model_map.py), the
Lava processes and their activity records (hw_sim/) and, through those records, the energy estimates.
``config`` is a :class:`spiking.config.SpikingVTGConfig` or a mapping with the same field names (a Lava
bundle's manifest ``architecture``): ``hidden_dim`` D, ``ffn_dim`` F, ``num_layers`` N, ``f_layers``,
``f_kernel``, ``d_layers``, ``d_kernel``.

Neuron populations (ternary LIF, or IF in the decoders), each ``width`` neurons on every real token it
covers (``tokens``: the query's L = Lv + Lq real video and text tokens; ``clips``: its Lv real clips)::

    input                        tokens  D   the SFG-driven input neurons
    layer{i}.{k,v,attn,so,out}   tokens  D   encoder layer i: key, value, attention output, self-output, output
    layer{i}.int                 tokens  F   intermediate
    decoder.{f,d}.{j}            clips   D   IF neurons after convolution j, j = 0 .. layers - 2

Activity components (docs/ARCHITECTURE.md, ``outputs["activity"]``): the spikes of a population (its
``source``) counted where a spike triggers accumulations, and how many one spike triggers (fan-out)::

    component          source                  covers  fan-out per spike
    layer{i}.input     input / layer{i-1}.out  tokens  3 D         the q, k and v projections
    layer{i}.k, .v     itself                  tokens  L           q s_k^T, alpha s_v: one per real token
    layer{i}.attn      itself                  tokens  D           the self-output projection
    layer{i}.so        itself                  tokens  F           the intermediate projection
    layer{i}.int       itself                  tokens  D           the output projection
    layer{i}.out       itself                  tokens  0           priced where consumed (the next input)
    decoder.input      layer{N-1}.out          clips   k_f C_f0 + k_d C_d0, each head's first convolution
    decoder.{f,d}.{j}  itself                  clips   k C_{j+1}   the next convolution
    sfg                none (real-valued)      clips   0, and 3 D multiplications per clip and step
                                                       (dot product, norm, gate; paper Sec. 4.3)

with C_j the output channels of convolution j: D, except the read-out convolution's (f: 1, d: 2).
A component's neurons are ``width`` x its covered tokens (``sfg``: width 1, its neurons are the clips).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

TOKENS, CLIPS = "tokens", "clips"
ENCODER_POPULATIONS = ("k", "v", "attn", "so", "int", "out")  # each encoder layer's, in its order of spiking
DECODER_OUTPUTS = {"f": 1, "d": 2}  # output channels of each decoder head's read-out convolution
SFG_MULTS_PER_HIDDEN = 3  # SFG's multiplications per real clip, hidden unit and step: dot product, norm, gate
SIZES = ("hidden_dim", "ffn_dim", "num_layers", "f_layers", "f_kernel", "d_layers", "d_kernel")


@dataclasses.dataclass(frozen=True)
class Population:
    """A group of neurons: ``width`` neurons on each real token it ``covers`` (:data:`TOKENS` or :data:`CLIPS`)."""

    name: str
    covers: str
    width: int


@dataclasses.dataclass(frozen=True)
class ActivityComponent:
    """What the activity records count: the spikes of population ``source`` (None for ``sfg``, which
    has none) on the tokens it ``covers``, and the accumulations one spike triggers downstream.

    ``fan_out`` is per spike, or per spike and real token of the query when ``per_token`` (k and v);
    ``mults`` counts real-valued multiplications per covered token and step (``sfg`` only)."""

    name: str
    source: str | None
    covers: str
    width: int
    fan_out: int
    per_token: bool = False
    mults: int = 0

    def tokens(self, video_tokens: int, text_tokens: int) -> int:
        """The real tokens it covers in a query of ``video_tokens`` clips and ``text_tokens`` words."""
        return video_tokens + text_tokens if self.covers == TOKENS else video_tokens

    def neurons(self, video_tokens: int, text_tokens: int) -> int:
        """Its neurons in a query: width x covered real tokens."""
        return self.width * self.tokens(video_tokens, text_tokens)

    def fan_out_at(self, length: int) -> int:
        """Accumulations per spike in a query of ``length`` real tokens (video and text)."""
        return self.fan_out * length if self.per_token else self.fan_out


def sizes(config: Any) -> dict[str, int]:
    """The sizes the populations depend on (:data:`SIZES`), from a config object or a mapping."""
    if isinstance(config, Mapping):
        return {key: int(config[key]) for key in SIZES}
    return {key: int(getattr(config, key)) for key in SIZES}


def conv_channels(config: Any, head: str) -> list[int]:
    """Output channels of each convolution of decoder ``head`` ("f" or "d"), the read-out one last."""
    s = sizes(config)
    return [s["hidden_dim"]] * (s[f"{head}_layers"] - 1) + [DECODER_OUTPUTS[head]]


def decoder_populations(config: Any) -> list[str]:
    """The decoders' IF populations in record order: ``decoder.f.0 .. decoder.f.{n_f - 2}``, then ``decoder.d.*``."""
    s = sizes(config)
    return [f"decoder.{head}.{j}" for head in DECODER_OUTPUTS for j in range(s[f"{head}_layers"] - 1)]


def readout_convolutions(config: Any) -> dict[str, str]:
    """Head -> its read-out convolution ``decoder.{head}.{layers - 1}``, the last one, which has no neuron:
    its output current is what the host reads out (module docstring of spiking/decoders.py)."""
    layers = {head: config[f"{head}_layers"] if isinstance(config, Mapping) else getattr(config, f"{head}_layers")
              for head in DECODER_OUTPUTS}  # fmt: skip
    return {head: f"decoder.{head}.{int(layers[head]) - 1}" for head in DECODER_OUTPUTS}


def populations(config: Any) -> list[Population]:
    """Every neuron population, in the order input, encoder layers, decoders."""
    s = sizes(config)
    hidden, ffn = s["hidden_dim"], s["ffn_dim"]
    result = [Population("input", TOKENS, hidden)]
    for i in range(s["num_layers"]):
        result += [
            Population(f"layer{i}.{name}", TOKENS, ffn if name == "int" else hidden) for name in ENCODER_POPULATIONS
        ]
    return result + [Population(name, CLIPS, hidden) for name in decoder_populations(config)]


def sfg_component(hidden: int) -> ActivityComponent:
    """The ``sfg`` entry: no spikes and no fan-out; 3 D multiplications per real clip and step."""
    return ActivityComponent("sfg", None, CLIPS, 1, 0, mults=SFG_MULTS_PER_HIDDEN * hidden)


def activity_components(config: Any) -> list[ActivityComponent]:
    """The components of the activity records, in the order of docs/ARCHITECTURE.md (table: module docstring)."""
    s = sizes(config)
    hidden, ffn = s["hidden_dim"], s["ffn_dim"]
    fan_outs = {"k": 1, "v": 1, "attn": hidden, "so": ffn, "int": hidden, "out": 0}
    result = []
    for i in range(s["num_layers"]):
        source = "input" if i == 0 else f"layer{i - 1}.out"
        result.append(ActivityComponent(f"layer{i}.input", source, TOKENS, hidden, 3 * hidden))
        for name in ENCODER_POPULATIONS:
            key, width, per_token = f"layer{i}.{name}", ffn if name == "int" else hidden, name in ("k", "v")
            result.append(ActivityComponent(key, key, TOKENS, width, fan_outs[name], per_token))
    channels = {head: conv_channels(config, head) for head in DECODER_OUTPUTS}
    first = sum(s[f"{head}_kernel"] * channels[head][0] for head in DECODER_OUTPUTS)
    result.append(ActivityComponent("decoder.input", f"layer{s['num_layers'] - 1}.out", CLIPS, hidden, first))
    for head in DECODER_OUTPUTS:
        for j in range(s[f"{head}_layers"] - 1):
            name, fan_out = f"decoder.{head}.{j}", s[f"{head}_kernel"] * channels[head][j + 1]
            result.append(ActivityComponent(name, name, CLIPS, hidden, fan_out))
    return result + [sfg_component(hidden)]


def population_modules(model: Any) -> dict[str, Any]:
    """Population name -> the neuron module (TernaryLIF) of a :class:`spiking.model.SpikingVTG`, in the
    order of :func:`populations`."""
    modules: dict[str, Any] = {"input": model.input_lif}
    for i, layer in enumerate(model.layers):
        attention = layer.attention
        neurons = (attention.k_lif, attention.v_lif, attention.attn_lif, layer.so_lif, layer.int_lif, layer.out_lif)
        modules.update({f"layer{i}.{name}": neuron for name, neuron in zip(ENCODER_POPULATIONS, neurons)})
    for head in DECODER_OUTPUTS:
        decoder = getattr(model, f"{head}_decoder")
        modules.update({f"decoder.{head}.{j}": neuron for j, neuron in enumerate(decoder.neurons)})
    return modules
