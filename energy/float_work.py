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
* ``decoder_readout`` (each step): the decoders' last layer is averaged over time before the sigmoid,
  one accumulation per output channel and clip: Lv_i x decoder_outputs per step.

Neuron state updates (leak, threshold) are not counted, as in the paper's analysis.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from energy.activity import ActivityRecord
from vtg.errors import UserError


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
            elif isinstance(value, bool) or not isinstance(value, int) or value < (name != "host_layers"):
                raise UserError(f"{where}.{name}': expected an integer >= {int(name != 'host_layers')}, got {value!r}")
            values[name] = value
        return cls(**values)


def shape_of_spiking_model(architecture: dict[str, Any], dims: dict[str, int]) -> FloatShape:
    """The :class:`FloatShape` of a SpikingVTG model from its config fields and the data dims.

    ``architecture`` holds the ``model:`` config's names (``variant``, ``hidden_dim``, ``num_layers``,
    ``num_heads``) and ``host_input_layers`` (0 when absent): a Lava bundle's manifest ``architecture``, or
    ``dataclasses.asdict(model.config)`` with the config's ``host_input_layers`` added.
    """
    base = architecture["variant"] == "base"  # the NF variants drop softmax and LayerNorm (section 4.6)
    return FloatShape(
        hidden=int(architecture["hidden_dim"]),
        video_dim=int(dims["video_dim"]),
        text_dim=int(dims["text_dim"]),
        layers=int(architecture["num_layers"]),
        heads=int(architecture["num_heads"]),
        softmax=base,
        layernorm=base,
        host_layers=int(architecture.get("host_input_layers", 0)),
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
        "decoder_readout": steps * lv * shape.decoder_outputs,
    }
