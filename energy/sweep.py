"""The Tc sweep: run a spiking model at each number of timesteps, score it and measure its energy.

SpikingVTG trades accuracy for energy at inference by the number of timesteps Tc it runs (paper section
5.1, Fig. 4): every step costs the accumulations its spikes trigger (:mod:`energy.measured`), so the
energy grows linearly with Tc while the rates converge. For each Tc the sweep collects the predictions
(scored by ``evaluate``), the energy per query and the mean rate (IFR) of each component, and beside the
paper's arithmetic-only energy the estimates with memory and on Loihi (:mod:`energy.neuromorphic`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch
from tqdm import tqdm

from energy.activity import ActivityRecord, record_from_outputs
from energy.analytic import ann_layer_macs
from energy.float_work import FloatShape
from energy.measured import Energy, measure
from energy.neuromorphic import estimates
from energy.ops import OpTable
from vtg.errors import UserError


@dataclasses.dataclass(frozen=True)
class TcPoint:
    """Results at one Tc: metrics, energy over all queries, and each component's mean rate."""

    tc: int
    metrics: dict[str, float]
    energy: Energy
    rates: dict[str, float]
    # arithmetic-only, 45 nm with SRAM and Loihi estimates per query (energy.neuromorphic.estimates)
    beside_arithmetic: dict[str, Any] | None = None


def run_at_tc(model: torch.nn.Module, batch: dict[str, Any], tc: int) -> dict[str, Any]:
    """``model(batch, tc=tc)`` (with ``activity=True`` where the model records activity only on request), or
    ``model(batch)`` with ``model.inference_tc = tc`` for models without a ``tc`` argument."""
    parameters = inspect.signature(model.forward).parameters
    if "tc" in parameters:
        return model(batch, tc=tc, activity=True) if "activity" in parameters else model(batch, tc=tc)
    if hasattr(model, "inference_tc"):
        model.inference_tc = tc
        return model(batch)
    raise UserError(f"model {type(model).__name__} takes no number of timesteps (no tc argument, no inference_tc)")


def decoder_read_steps(model: torch.nn.Module, tc: int) -> int:
    """The steps of a Tc-step run that the model's decoders read: Tc less their warm-up
    (``model.config.decoder_read_steps``, SpikingVTG's), Tc for a model without one."""
    read_steps = getattr(getattr(model, "config", None), "decoder_read_steps", None)
    return read_steps(tc) if read_steps else tc


def parse_tcs(text: str, option: str = "--tc") -> list[int]:
    """``1,2,4,8,16`` -> [1, 2, 4, 8, 16]: positive integers, no repeats, sorted."""
    values = []
    for item in filter(None, (part.strip() for part in str(text).split(","))):
        if not re.fullmatch(r"[0-9]{1,9}", item) or int(item) < 1:  # ASCII: isdigit() takes "²", int() does not
            raise UserError(f"option '{option}': {item!r} is not a positive integer number of timesteps")
        values.append(int(item))
    if not values or len(set(values)) != len(values):
        raise UserError(f"option '{option}': expected distinct timesteps such as 1,2,4,8,16, got {text!r}")
    return sorted(values)


def mean_rates(records: Sequence[ActivityRecord]) -> dict[str, float]:
    """Mean |s| per neuron and step of each component over runs: sum of spikes / (sum of neurons x steps),
    the steps a component runs (Tc; the decoders' read steps, :meth:`ActivityRecord.steps`)."""
    spikes: dict[str, float] = {}
    neuron_steps: dict[str, float] = {}
    for record in records:
        for name, component in record.components.items():
            spikes[name] = spikes.get(name, 0.0) + float(component.spikes.sum())
            neuron_steps[name] = neuron_steps.get(name, 0.0) + component.neurons * record.steps(name)
    return {name: spikes[name] / neuron_steps[name] if neuron_steps[name] else 0.0 for name in sorted(spikes)}


def sweep(
    model: torch.nn.Module,
    batches: Sequence[dict[str, Any]],
    tcs: Sequence[int],
    shape: FloatShape,
    table: OpTable,
    snn_op: str,
    evaluate: Callable[[list[dict]], dict[str, float]],
    progress: bool = True,
) -> list[TcPoint]:
    """Run ``model`` over ``batches`` at each Tc in ``tcs``; ``evaluate`` scores a list of predictions."""
    model.eval()
    points = []
    total = len(tcs) * len(batches)
    with tqdm(total=total, desc="energy sweep", unit="batch", file=sys.stderr, disable=not progress) as bar:
        for tc in tcs:
            bar.set_postfix(tc=tc)
            predictions: list[dict] = []
            records: list[ActivityRecord] = []
            for batch in batches:
                with torch.no_grad():
                    outputs = run_at_tc(model, batch, tc)
                    predictions.extend(model.predict(batch, outputs))
                records.append(record_from_outputs(outputs["activity"], batch, decoder_read_steps(model, tc)))
                bar.update(1)
            energy = functools.reduce(operator.add, (measure(r, shape, table, snn_op) for r in records))
            memory = estimates(records, shape, table, snn_op)
            points.append(TcPoint(tc, evaluate(predictions), energy, mean_rates(records), memory))
    return points


def ann_reference_macs(batches: Sequence[dict[str, Any]], hidden: int, layers: int, ffn: int | None = None) -> float:
    """Mean per-query FP-MACs of a non-spiking encoder of the same depth, width and FFN width (section 5.1's
    reference, E_A = E_MAC x this)."""
    per_query = [
        layers * ann_layer_macs(int(video.sum() + text.sum()), hidden, ffn)
        for batch in batches
        for video, text in zip(batch["video_mask"], batch["text_mask"])
    ]
    return sum(per_query) / len(per_query)
