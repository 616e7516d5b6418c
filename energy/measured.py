"""Measured energy: the operations implied by a run's actual spike activity, priced by an op table.

For each component c of an :class:`~energy.activity.ActivityRecord` (docs/ARCHITECTURE.md)::

    accumulations_c = sum_t spikes_c[t] x fan_out_c        (spikes = sum of |s|: ternary spikes count)
    E_c = accumulations_c x e_acc                           e_acc = INT-ACC (1-bit NF) or FP-ACC

and the floating-point work of :mod:`energy.float_work` in FP-MAC. Existing counters (syops,
SpikingJelly) count only {0, 1} tensors, so a -1 spike would be missed; |s| x fan-out does not miss it.

As in the paper, every spike-triggered accumulation of the 1-bit NF model is priced INT-ACC, although
those of K and V add real-valued operands (the query q and the attention weights alpha, not binary
weights); pricing them FP-ACC would raise the K and V terms by 9x with the paper's table.

The fan-out is the one the model reports: for ``k`` that is L (QK^T with spiking K), not the paper's D
(see :mod:`energy.analytic`). Fed back as IFRs, rate x neurons x fan-out, the structural formula of
:mod:`energy.analytic` gives the same encoder total (:func:`encoder_terms`).
"""

from __future__ import annotations

import dataclasses

from energy.activity import DECODER_PREFIX, ENCODER_PREFIX, ActivityRecord
from energy.analytic import Term
from energy.float_work import FloatShape, float_macs
from energy.ops import OpTable


@dataclasses.dataclass(frozen=True)
class Energy:
    """Energy in mJ of one or more runs: spiking components, floating-point work, and how many queries."""

    components_mj: dict[str, float]
    float_mj: dict[str, float]
    queries: int

    @property
    def encoder_mj(self) -> float:
        return sum(v for k, v in self.components_mj.items() if k.startswith(ENCODER_PREFIX))

    @property
    def decoder_mj(self) -> float:
        return sum(v for k, v in self.components_mj.items() if k.startswith(DECODER_PREFIX))

    @property
    def spiking_mj(self) -> float:
        return sum(self.components_mj.values())

    @property
    def float_total_mj(self) -> float:
        return sum(self.float_mj.values())

    @property
    def total_mj(self) -> float:
        return self.spiking_mj + self.float_total_mj

    def __add__(self, other: Energy) -> Energy:
        def merge(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in {**a, **b}}

        return Energy(
            merge(self.components_mj, other.components_mj),
            merge(self.float_mj, other.float_mj),
            self.queries + other.queries,
        )

    def per_query(self) -> dict:
        """Mean energy per query (mJ): totals and the breakdown by component and by floating-point kind."""
        n = self.queries
        return {
            "queries": n,
            "total_mj": self.total_mj / n,
            "encoder_mj": self.encoder_mj / n,
            "decoder_mj": self.decoder_mj / n,
            "float_mj": self.float_total_mj / n,
            "components_mj": {k: v / n for k, v in sorted(self.components_mj.items())},
            "float_kinds_mj": {k: v / n for k, v in sorted(self.float_mj.items())},
        }


def snn_op_of(variant: str) -> str:
    """How a spike of a SpikingVTG variant is priced: INT-ACC with binary weights (1-bit NF), else FP-ACC."""
    return "int_acc" if variant == "1bit_nf" else "fp_acc"


def measure(record: ActivityRecord, shape: FloatShape, table: OpTable, snn_op: str) -> Energy:
    """Energy of one run: sum_t |s| x fan-out priced as ``snn_op``, plus its FP-MAC work."""
    components = {name: table.mj(snn_op, float(c.spikes.sum()) * c.fan_out) for name, c in record.components.items()}
    floats = {kind: table.mj("fp_mac", macs) for kind, macs in float_macs(record, shape).items()}
    return Energy(components, floats, record.queries)


def encoder_terms(record: ActivityRecord) -> dict[str, list[Term]]:
    """The structural formula's terms of each encoder layer, from measured activity (rate = mean IFR).

    ``Tc x table.mj(op, spiking_accumulations(terms))`` summed over layers equals
    :meth:`Energy.encoder_mj` of :func:`measure` on the same record.
    """
    layers: dict[str, list[Term]] = {}
    for name, c in sorted(record.components.items()):
        if name.startswith(ENCODER_PREFIX):
            layer, _, component = name.partition(".")
            layers.setdefault(layer, []).append(Term(component, c.rate, c.neurons, c.fan_out))
    return layers


# the paper's IFR names (section 5.1) and the model's components they stand for
PAPER_NAMES = {"in": "input", "k": "k", "v": "v", "attn": "attn", "int": "int"}


def paper_ifr(rates: dict[str, float]) -> dict[str, float]:
    """Mean rates of ``layer{i}.{input,k,v,attn,int}`` over the layers, under the paper's IFR names.

    Every layer has the same populations, so the plain mean over layers is the rate over all of them.
    These are the numbers the paper quotes (0.40, 0.18, 0.19, 0.03, 0.09 for its 1-bit NF model).
    """
    result = {}
    for paper, component in PAPER_NAMES.items():
        values = [r for name, r in rates.items() if name.startswith(ENCODER_PREFIX) and name.endswith(f".{component}")]
        if values:
            result[paper] = sum(values) / len(values)
    return result
