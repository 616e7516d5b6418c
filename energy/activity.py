"""Spike activity of one run (a batch or one query), from the PyTorch model or from a Lava simulation.

The model's ``outputs["activity"]`` (docs/ARCHITECTURE.md) maps a component (``layer{i}.input``,
``layer{i}.k``, ``v``, ``attn``, ``int``, ``out``, ``decoder.*``) to ``spikes`` (Tc,) = sum of |s|
over the run's real tokens per timestep, ``neurons`` and ``fan_out``. An :class:`ActivityRecord` holds
that dict as numpy together with the token counts of each query, which the floating-point work
(:mod:`energy.float_work`) needs.

Activity JSON (what ``vtg energy measure`` reads; ``vtg simulate`` writes one record per query)::

    {
      "format": "vtg-activity/1",
      "snn_op": "int_acc",                  # int_acc (1-bit NF, binary weights) or fp_acc
      "model": {"hidden": 64, "video_dim": 32, "text_dim": 32, "layers": 2, "heads": 4,
                "softmax": false, "layernorm": false, "decoder_outputs": 3},
      "records": [                          # one per simulated run (a query, or a batch)
        {"video_tokens": [75], "text_tokens": [20],    # per query in the run
         "decoder_read_steps": 6,                       # optional: the steps the decoders read (default Tc)
         "activity": {"layer0.input": {"spikes": [812, 790, ...], "neurons": 6080, "fan_out": 192},
                      ...}}
      ]
    }

``spikes`` has one non-negative count per timestep (the same Tc for all components of a record),
``neurons`` and ``fan_out`` are integers >= 0 and no step has more spikes than neurons (|s| <= 1).
A fan-out of 0 marks spikes counted where they are consumed (SpikingVTG's ``layer{i}.out`` is priced as
``layer{i+1}.input`` and ``decoder.input``). An optional ``fp_mults`` or ``int_mults`` per component (the
activity dicts carry one for ``sfg``) is accepted and not used: the floating-point work is counted from
``model`` by :mod:`energy.float_work`, so that PyTorch and Lava runs are priced alike.
``model`` is a :class:`energy.float_work.FloatShape`. ``decoder_read_steps`` is Tc less the decoders'
warm-up (``model.decoder_warmup``: they skip the encoder's first steps); the floating-point read-out is
counted over those steps only. Records written without it are read as reading every step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from vtg.atomic import atomic_write_text
from vtg.errors import UserError, check_number
from vtg.json_file import read_json_object, to_json

FORMAT = "vtg-activity/1"
ENCODER_PREFIX = "layer"
DECODER_PREFIX = "decoder."
REQUIRED_KEYS = {"spikes", "neurons", "fan_out"}
OPTIONAL_KEYS = {"fp_mults", "int_mults"}


@dataclasses.dataclass(frozen=True)
class Component:
    """Activity of one component: |s| summed over its neurons per timestep, neurons, fan-out."""

    spikes: np.ndarray  # (Tc,)
    neurons: int
    fan_out: int

    @property
    def rate(self) -> float:
        """Mean |s| per neuron and timestep (the paper's IFR); 0 for a component without neurons."""
        return float(self.spikes.mean()) / self.neurons if self.neurons else 0.0


@dataclasses.dataclass(frozen=True)
class ActivityRecord:
    """The components of one run and the video/text token counts of each of its queries."""

    components: dict[str, Component]
    video_tokens: list[int]
    text_tokens: list[int]
    decoder_read_steps: int  # steps the decoders read, 1 .. tc (tc less their warm-up)

    @property
    def queries(self) -> int:
        return len(self.video_tokens)

    @property
    def tc(self) -> int:
        return len(next(iter(self.components.values())).spikes)

    def steps(self, name: str) -> int:
        """The steps component ``name`` runs: Tc, or for the decoders' (and their input's) the steps they read,
        as they rest through their warm-up."""
        return self.decoder_read_steps if name.startswith(DECODER_PREFIX) else self.tc


def check_component(name: str, component: Component, location: str) -> None:
    """Shapes and ranges of one component; ``location`` names where it came from."""

    def where(sub: str) -> str:
        return f"{location}: field 'activity.{name}.{sub}'"

    if component.spikes.ndim != 1 or len(component.spikes) == 0:
        raise UserError(f"{where('spikes')}: expected one count per timestep, got shape {component.spikes.shape}")
    if not np.isfinite(component.spikes).all() or (component.spikes < 0).any():
        raise UserError(f"{where('spikes')}: counts must be finite and >= 0")
    for field in ("neurons", "fan_out"):
        if getattr(component, field) < 0:
            raise UserError(f"{where(field)}: must be >= 0, got {getattr(component, field)}")
    # tolerance: the model sums float32 counts, which may round just above the neuron count
    if component.spikes.max() > component.neurons * (1 + 1e-6):
        most = component.spikes.max()
        raise UserError(f"{where('spikes')}: {most:g} spikes in one step from {component.neurons} neurons")


def make_record(
    components: dict[str, Component],
    video_tokens: list[int],
    text_tokens: list[int],
    location: str,
    decoder_read_steps: int | None = None,
) -> ActivityRecord:
    """An :class:`ActivityRecord`, checked: components present, one Tc, one token count per query, the
    decoders' read steps in 1 .. Tc (None: all Tc)."""
    if not components:
        raise UserError(f"{location}: field 'activity': no components")
    for name, component in components.items():
        check_component(name, component, location)
    steps = {len(c.spikes) for c in components.values()}
    if len(steps) > 1:
        raise UserError(f"{location}: field 'activity': components disagree on Tc ({sorted(steps)})")
    if len(video_tokens) != len(text_tokens) or not video_tokens:
        raise UserError(f"{location}: fields 'video_tokens'/'text_tokens': one count per query in each")
    if min(video_tokens) < 1 or min(text_tokens) < 1:
        raise UserError(f"{location}: fields 'video_tokens'/'text_tokens': every query has at least one token")
    tc = steps.pop()
    if decoder_read_steps is None:
        decoder_read_steps = tc
    if not 1 <= decoder_read_steps <= tc:
        raise UserError(f"{location}: field 'decoder_read_steps': expected 1 to {tc} (Tc), got {decoder_read_steps}")
    return ActivityRecord(components, list(video_tokens), list(text_tokens), decoder_read_steps)


def record_from_activity(
    activity: dict[str, dict[str, Any]],
    video_tokens: list[int],
    text_tokens: list[int],
    location: str,
    decoder_read_steps: int | None = None,
) -> ActivityRecord:
    """The record of an activity dict (docs/ARCHITECTURE.md; spikes a tensor or an array (Tc,)) of a run
    whose queries have ``video_tokens`` and ``text_tokens`` real tokens and whose decoders read
    ``decoder_read_steps`` of its steps (None: all); ``location`` names it in errors."""
    components = {}
    for name, entry in activity.items():
        spikes = entry["spikes"]
        if hasattr(spikes, "detach"):  # a tensor, possibly on an accelerator
            spikes = spikes.detach().cpu().double().numpy()
        components[name] = Component(np.asarray(spikes, np.float64), int(entry["neurons"]), int(entry["fan_out"]))
    return make_record(components, video_tokens, text_tokens, location, decoder_read_steps)


def record_from_outputs(
    activity: dict[str, dict[str, Any]], batch: dict[str, Any], decoder_read_steps: int | None = None
) -> ActivityRecord:
    """The record of a batch run through the PyTorch model (``outputs["activity"]`` and its batch)."""
    video_tokens = batch["video_mask"].sum(dim=1).tolist()
    text_tokens = batch["text_mask"].sum(dim=1).tolist()
    return record_from_activity(activity, video_tokens, text_tokens, "model outputs", decoder_read_steps)


def _int_field(value: Any, location: str) -> int:
    number = check_number(value, location)
    if not number.is_integer():
        raise UserError(f"{location}: expected an integer, got {value!r}")
    return int(number)


def record_from_json(data: Any, location: str) -> ActivityRecord:
    """One entry of ``records`` in the activity JSON (``location`` is e.g. ``file: records[0]``)."""
    if not isinstance(data, dict):
        raise UserError(f"{location}: expected a mapping, got {type(data).__name__}")
    tokens = {}
    read_steps = None
    if "decoder_read_steps" in data:
        read_steps = _int_field(data["decoder_read_steps"], f"{location}: field 'decoder_read_steps'")
    for key in ("video_tokens", "text_tokens", "activity"):
        if key not in data:
            raise UserError(f"{location}: field '{key}': missing")
    for key in ("video_tokens", "text_tokens"):
        if not isinstance(data[key], list):
            raise UserError(f"{location}: field '{key}': expected a list of token counts per query")
        tokens[key] = [_int_field(v, f"{location}: field '{key}'") for v in data[key]]
    if not isinstance(data["activity"], dict):
        raise UserError(f"{location}: field 'activity': expected a mapping component -> counts")
    components = {}
    for name, entry in data["activity"].items():
        where = f"{location}: field 'activity.{name}"
        if not isinstance(entry, dict) or not REQUIRED_KEYS <= set(entry) <= REQUIRED_KEYS | OPTIONAL_KEYS:
            expected = "spikes, neurons, fan_out (and optionally fp_mults or int_mults)"
            raise UserError(f"{where}': expected the keys {expected}")
        if not isinstance(entry["spikes"], list):
            raise UserError(f"{where}.spikes': expected a list of counts per timestep")
        spikes = np.array([check_number(v, f"{where}.spikes'") for v in entry["spikes"]], dtype=np.float64)
        components[name] = Component(
            spikes, _int_field(entry["neurons"], f"{where}.neurons'"), _int_field(entry["fan_out"], f"{where}.fan_out'")
        )
    return make_record(components, tokens["video_tokens"], tokens["text_tokens"], location, read_steps)


def record_to_json(record: ActivityRecord) -> dict[str, Any]:
    """The JSON form of a record (inverse of :func:`record_from_json`)."""
    return {
        "video_tokens": record.video_tokens,
        "text_tokens": record.text_tokens,
        "decoder_read_steps": record.decoder_read_steps,
        "activity": {
            name: {"spikes": c.spikes.tolist(), "neurons": c.neurons, "fan_out": c.fan_out}
            for name, c in record.components.items()
        },
    }


def write_activity_json(path: str | Path, records: list[ActivityRecord], snn_op: str, model: dict[str, Any]) -> None:
    """Write records in the activity JSON form (what ``vtg simulate`` hands to ``vtg energy measure``),
    whole or not at all (:func:`vtg.atomic.atomic_write_text`).

    ``model`` is the mapping form of :class:`energy.float_work.FloatShape` (``dataclasses.asdict``).
    """
    data = {"format": FORMAT, "snn_op": snn_op, "model": model, "records": [record_to_json(r) for r in records]}
    atomic_write_text(path, to_json(data) + "\n")


def load_activity_json(path: str | Path) -> dict[str, Any]:
    """Read an activity JSON: returns ``{"snn_op", "model" (mapping), "records" (list of records)}``."""
    data = read_json_object(path, "activity file not found")
    if data.get("format") != FORMAT:
        raise UserError(f"{path}: field 'format': expected {FORMAT!r}, got {data.get('format')!r}")
    for key in ("snn_op", "model", "records"):
        if key not in data:
            raise UserError(f"{path}: field '{key}': missing")
    if data["snn_op"] not in ("int_acc", "fp_acc"):
        raise UserError(f"{path}: field 'snn_op': expected int_acc or fp_acc, got {data['snn_op']!r}")
    if not isinstance(data["records"], list) or not data["records"]:
        raise UserError(f"{path}: field 'records': expected a non-empty list")
    records = [record_from_json(r, f"{path}: records[{i}]") for i, r in enumerate(data["records"])]
    return {"snn_op": data["snn_op"], "model": data["model"], "records": records}
