"""The floating-point work a SpikingVTG model still does, counted in FP-MACs.

Spikes drive only the synaptic accumulations (priced in :mod:`energy.measured`). Around them the model
keeps real-valued arithmetic, each counted here per query i (Lv_i video clips, Lq_i query tokens,
L_i = Lv_i + Lq_i, hidden D, N layers, H heads, Tc steps) as FP-MACs, a deliberate upper bound where an
operation is cheaper than a MAC (an add, a compare):

* ``host_input`` (once, with ``model.input_mlp``): n host layers of LayerNorm (2 MACs per element) and
  Linear before the projections (spiking/inputs.py): n (Lv_i Dv (Dv + 2) + Lq_i Dt (Dt + 2)).
* ``input_projection`` (once): the first projections take real features, not spikes:
  Lv_i Dv D + Lq_i Dt D.
* ``sentence_pooling`` (once): SFG's M = Q^T Softmax(Q W_p) (paper eq. 2): 2 Lq_i D.
* ``sfg`` (each step): running ASR of the last layer's video tokens, cosine with M (dot product and
  norm), gating V x F and injection into the input neurons: 4 Lv_i D per step (section 4.3 puts it at
  O(Lv D)).
* ``softmax`` (each step, base variant only): one exponential-and-scale per attention score,
  N H L_i^2 per step. The NF variants replace it by ReLU and 1/L, a scale folded into the next weights.
* ``layernorm`` (each step, base variant only): two LayerNorms per layer (after attention and after the
  output layer), 2 MACs per element (variance and scale-shift): N x 2 x 2 L_i D per step.
* ``decoder_readout`` (each step the decoders read, Tc less their warm-up): the decoders' last layer is
  averaged over time before the sigmoid, one accumulation per output channel and clip: Lv_i x
  decoder_outputs per read step.
* ``rate_driven`` (each step, with ``model.rate_driven``): the input neurons' current increment
  N[t] P[t] - gamma N[t-1] P[t-1] (2 multiplications per element: 2 L_i D), and per layer the
  intermediate's: the leaky trace of W_int s_so scaled by 1 / N[t] (2) and its increment (2): 4 L_i F,
  F the intermediate width (spiking.neuron.RateDrivenCurrent; the spike-driven accumulations into the
  trace are those of the spikes, priced with them). (2 D + 4 N F) L_i per step.

Neuron state updates (leak, threshold) are not counted, as in the paper's analysis.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from energy.activity import ActivityRecord
from vtg.errors import UserError

ZERO_ALLOWED = ("host_layers", "ffn")  # FloatShape's integer fields that may be 0


@dataclasses.dataclass(frozen=True)
class FloatShape:
    """The dimensions and options of a spiking model that its floating-point work depends on."""

    hidden: int
    video_dim: int
    text_dim: int
    layers: int
    heads: int
    softmax: bool
    layernorm: bool
    decoder_outputs: int = 3  # foreground (1) + boundary offsets (2)
    host_layers: int = 0  # host input layers per modality (model.input_mlp)
    ffn: int = 0  # intermediate width F with rate_driven (0 without: nothing else here depends on it)
    rate_driven: bool = False  # model.rate_driven: rate-driven input and intermediate currents

    @classmethod
    def from_mapping(cls, data: Any, location: str, field_name: str = "model") -> FloatShape:
        """Validate a mapping (the ``model`` field of an activity JSON at ``location``), naming each field."""
        where = f"{location}: field '{field_name}"
        if not isinstance(data, dict):
            raise UserError(f"{where}': expected a mapping of the model's dimensions")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(fields)
        if unknown:
            raise UserError(f"{where}.{sorted(unknown)[0]}': unknown (expected {', '.join(fields)})")
        values = {}
        for name, field in fields.items():
            if name not in data:
                if field.default is dataclasses.MISSING:
                    raise UserError(f"{where}.{name}': missing")
                continue
            value = data[name]
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise UserError(f"{where}.{name}': expected true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < (name not in ZERO_ALLOWED):
                least = int(name not in ZERO_ALLOWED)
                raise UserError(f"{where}.{name}': expected an integer >= {least}, got {value!r}")
            values[name] = value
        return cls(**values)


def shape_of_spiking_model(architecture: dict[str, Any], dims: dict[str, int]) -> FloatShape:
    """The :class:`FloatShape` of a SpikingVTG model from its config fields and the data dims.

    ``architecture`` holds the ``model:`` config's names (``variant``, ``hidden_dim``, ``num_layers``,
    ``num_heads``, ``ffn_dim``, and ``rate_driven`` when set) and ``host_input_layers`` (0 when absent): a
    Lava bundle's manifest ``architecture``, or
    ``dataclasses.asdict(model.config)`` with the config's ``host_input_layers`` added.
    """
    base = architecture["variant"] == "base"  # the NF variants drop softmax and LayerNorm (section 4.6)
    rate_driven = bool(architecture.get("rate_driven", False))
    return FloatShape(
        hidden=int(architecture["hidden_dim"]),
        video_dim=int(dims["video_dim"]),
        text_dim=int(dims["text_dim"]),
        layers=int(architecture["num_layers"]),
        heads=int(architecture["num_heads"]),
        softmax=base,
        layernorm=base,
        host_layers=int(architecture.get("host_input_layers", 0)),
        ffn=int(architecture["ffn_dim"]) if rate_driven else 0,
        rate_driven=rate_driven,
    )


def float_macs(record: ActivityRecord, shape: FloatShape) -> dict[str, float]:
    """FP-MACs of the run in ``record`` by kind (totals over its queries and its Tc steps)."""
    D, steps = shape.hidden, record.tc
    lv = sum(record.video_tokens)
    lq = sum(record.text_tokens)
    seq = [v + q for v, q in zip(record.video_tokens, record.text_tokens)]
    dv, dt = shape.video_dim, shape.text_dim
    return {
        "host_input": shape.host_layers * (lv * dv * (dv + 2) + lq * dt * (dt + 2)),
        "input_projection": lv * dv * D + lq * dt * D,
        "sentence_pooling": 2 * lq * D,
        "sfg": steps * 4 * lv * D,
        "softmax": steps * shape.layers * shape.heads * sum(L * L for L in seq) if shape.softmax else 0,
        "layernorm": steps * shape.layers * 2 * 2 * sum(seq) * D if shape.layernorm else 0,
        "decoder_readout": record.decoder_read_steps * lv * shape.decoder_outputs,
        "rate_driven": steps * (2 * D + 4 * shape.layers * shape.ffn) * sum(seq) if shape.rate_driven else 0,
    }
