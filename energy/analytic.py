"""The analytic energy formulas of the SpikingVTG paper (section 5.1, Table 5), made structural.

Non-spiking encoder layer (L tokens, hidden D, feed-forward width D), in FP-MAC::

    E_A = [3 L D^2  +  (L D^2 + L^2 D)  +  2 L D^2] x e_fp_mac
           Q, K, V    attention            feed-forward

The paper prints the last term as ``2 L D^3``; that is a typo: only ``2 L D^2`` gives its 5.98 mJ for
L = 200, D = 1024 (23.9 mJ for UniVTG's 4 layers); with 2LD^3, E_A would be about 2 J. Its attention
term holds one L^2 D product where an encoder does two (QK^T and AV, 2 L^2 D): kept as printed, so that
the numbers are the paper's; :mod:`energy.teacher` counts a real teacher's products by running it.

Spiking layer, one timestep: a spike of a neuron triggers one accumulation per downstream synapse
(its *fan-out*), whatever its sign (ternary spikes count as |s|). The formula is therefore a sum of
terms (component, rate, neurons, fan-out)::

    E_St = sum_c  IFR_c x neurons_c x fan_out_c  x e_acc,      E_S = Tc x E_St

with e_acc = INT-ACC for the 1-bit NF variant (binary weights), FP-ACC otherwise. The paper's five terms
are the preset :func:`paper_terms` (neurons = L D for every component)::

    E_St = [3 IFR_in L D^2 + IFR_k L D^2 + IFR_v L^2 D + IFR_attn L D^2 + IFR_int L D^2] x 0.1 pJ

giving 0.032 mJ per layer and step with the paper's rates (0.40, 0.18, 0.19, 0.03, 0.09), 0.32 mJ per
layer at Tc = 10 and 1.3 mJ for four layers (Table 5). The paper's efficiency 19.93 is 5.98 / 0.30,
its E_S rounded; unrounded, E_A / E_S = 18.5.

The paper's terms also simplify the layer: its ``int`` term (L D neurons, fan-out D) assumes an
intermediate width F = D, and it has no term for the self-output neurons (fan-out F into the
intermediate projection). The measured estimator counts every population the model has.

The K term. The paper prices spiking K as ``IFR_k L D^2``, a fan-out of D per K spike, as if K fed a
D x D projection. In QK^T with spiking K, a spike of K at (token j, channel d) is accumulated into the
score of every query token i, a fan-out of L: ``IFR_k L^2 D`` in total, as for V in AV. ``k_term="paper"``
(the default) keeps the paper's term so that its numbers are reproduced; ``k_term="qk"`` uses L.
The measured estimator (:mod:`energy.measured`) uses the fan-out each component reports in the model's
activity dict (L for K, the QK^T count), and the agreement test feeds the measured rates, neurons and
fan-outs back into :func:`spiking_accumulations`, so it checks the structural formula, not the preset.
"""

from __future__ import annotations

import dataclasses
import math

from energy.ops import OpTable
from vtg.errors import UserError

PAPER_COMPONENTS = ("in", "k", "v", "attn", "int")
SNN_OPS = ("int_acc", "fp_acc")
K_TERMS = ("paper", "qk")


@dataclasses.dataclass(frozen=True)
class Term:
    """One spiking component: mean |s| per neuron and step (IFR), its neuron count and fan-out."""

    component: str
    rate: float
    neurons: float
    fan_out: float

    @property
    def accumulations(self) -> float:
        """Accumulations per timestep: IFR x neurons x fan-out."""
        return self.rate * self.neurons * self.fan_out


def ann_layer_macs(seq_len: int, hidden: int, ffn: int | None = None) -> float:
    """FP-MACs of one non-spiking encoder layer: 3LD^2 + (LD^2 + L^2 D) + 2LDF (the paper's 2LD^3 read as
    2LD^2, its F = D; ``ffn`` F, default D): q, k, v; scores and attention output; the two FFN layers."""
    L, D = seq_len, hidden
    F = hidden if ffn is None else ffn
    return 3 * L * D**2 + (L * D**2 + L**2 * D) + 2 * L * D * F


def paper_terms(seq_len: int, hidden: int, ifr: dict[str, float], k_term: str = "paper") -> list[Term]:
    """The paper's five terms of E_St; ``k_term`` 'paper' gives K a fan-out of D, 'qk' of L (QK^T)."""
    L, D = seq_len, hidden
    fan_outs = {"in": 3 * D, "k": D if k_term == "paper" else L, "v": L, "attn": D, "int": D}
    return [Term(c, ifr[c], L * D, fan_outs[c]) for c in PAPER_COMPONENTS]


def spiking_accumulations(terms: list[Term]) -> float:
    """Accumulations of one spiking layer and timestep: the sum of the terms."""
    return sum(term.accumulations for term in terms)


def parse_ifr(text: str, option: str = "--ifr") -> dict[str, float]:
    """Parse ``in=0.40,k=0.18,v=0.19,attn=0.03,int=0.09``: all five components, each rate in [0, 1]."""
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise UserError(f"option '{option}': {item!r} is not component=rate")
        if name not in PAPER_COMPONENTS:
            choices = ", ".join(PAPER_COMPONENTS)
            raise UserError(f"option '{option}': unknown component {name!r} (choose from {choices})")
        try:
            rate = float(value)
        except ValueError:
            raise UserError(f"option '{option}': rate of {name!r} is not a number: {value.strip()!r}") from None
        if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
            raise UserError(f"option '{option}': rate of {name!r} must be in [0, 1], got {value.strip()}")
        rates[name] = rate
    missing = [c for c in PAPER_COMPONENTS if c not in rates]
    if missing:
        raise UserError(f"option '{option}': missing rate for {', '.join(missing)} (give all of in, k, v, attn, int)")
    return rates


def formula(
    seq_len: int,
    hidden: int,
    layers: int,
    tc: int,
    ifr: dict[str, float],
    table: OpTable,
    snn_op: str = "int_acc",
    k_term: str = "paper",
) -> dict:
    """E_A, E_S and their ratio for a non-spiking and a spiking encoder of the same depth and width.

    Returns the inputs and ``ann_mj_per_layer``, ``ann_mj``, ``snn_mj_per_step_per_layer``,
    ``snn_mj_per_layer`` (x Tc), ``snn_mj`` (x layers) and ``efficiency`` = E_A / E_S (None when E_S = 0).
    """
    for name, value in (("--seq-len", seq_len), ("--hidden", hidden), ("--layers", layers), ("--tc", tc)):
        if value < 1:
            raise UserError(f"option '{name}': must be at least 1, got {value}")
    ann_layer = table.mj("fp_mac", ann_layer_macs(seq_len, hidden))
    terms = paper_terms(seq_len, hidden, ifr, k_term)
    snn_step = table.mj(snn_op, spiking_accumulations(terms))
    snn_mj = snn_step * tc * layers
    return {
        "seq_len": seq_len,
        "hidden": hidden,
        "layers": layers,
        "tc": tc,
        "ifr": ifr,
        "snn_op": snn_op,
        "k_term": k_term,
        "table": table.name,
        "ops_pj": {kind: table.ops_pj[kind] for kind in ("fp_mac", snn_op)},
        "ann_mj_per_layer": ann_layer,
        "ann_mj": ann_layer * layers,
        "snn_mj_per_step_per_layer": snn_step,
        "snn_mj_per_layer": snn_step * tc,
        "snn_mj": snn_mj,
        "efficiency": ann_layer * layers / snn_mj if snn_mj > 0 else None,  # no spikes: no finite ratio
    }
