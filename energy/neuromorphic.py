"""Energy with the costs arithmetic-only figures leave out: memory reads, neuron updates, spike messages.

The paper's estimate (:mod:`energy.measured`, :mod:`energy.teacher`) prices arithmetic only. Beside it,
never instead of it, two estimates count what a chip also pays, from the same measured activity:

**45 nm with SRAM** (``sram``): the op table's arithmetic plus a read of each operand that comes from
memory, priced with Horowitz's SRAM reads (ISSCC 2014, 45 nm: 10 / 20 / 100 pJ per 64-bit read from an
8 KB / 32 KB / 1 MB SRAM; :data:`SRAM_BANK` picks the 32 KB one, see below), or with the op table's own
price of that read where a user table gives one::

    E_c = E_arith,c + e_64 [ syn_ops_c b_w / 64  +  updates_c 2 b_s / 64 ]          (spiking component c)
    E_float = FP-MACs (e_fp_mac + e_64 32 / 64)                                     (float work, teachers)

syn_ops_c = sum_t |s| x fan-out (one operand of b_w bits read per accumulation: a synaptic weight, 1 bit
for 1-bit NF and 32 for NF, except where a k or v spike adds an activation, q in q s_k^T and alpha in
alpha s_v, held at the neurons' state width b_s), updates_c = neurons_c x its steps (Tc; Tc - k for the
decoders, at rest through their warm-up of k steps), each neuron reading and writing its b_s-bit membrane
every step it runs (24 bits in the integer model, 32 in float); every FP-MAC reads one 32-bit operand.
A write is priced as a read (Horowitz gives reads only), and a read of b bits costs b/64 of a 64-bit read
(bits packed in words). The three SRAM figures were checked against two public transcriptions of Horowitz's table, not
against the talk itself (energy/README.md names them).

**Loihi** (``loihi``): Loihi's per-operation energies from Davies et al., IEEE Micro 2018, Table 2
(14 nm; circuit-simulation figures, not chip measurements): 23.6 pJ per synaptic spike operation (the
table's minimum: a spike's accumulation into one synapse, its memory read included), 81 pJ per active
neuron update (52 pJ inactive), 1.7 pJ per spike message within a tile::

    E_c = 23.6 pJ syn_ops_c + 81 pJ updates_c + 1.7 pJ spikes_c

Every neuron counts as active every step (its membrane leaks), so the inactive figure is not used.
Messages: one per spike leaving a population (tile hops, 3.0 pJ east-west and 4.0 pJ north-south on
Loihi, are not counted: they need a placement). These figures were checked against two independent
public transcriptions of that table, not against the paper itself (energy/README.md names them).

The floating-point work (input projections, SFG) does not run on neuro-cores (``export/loihi2.py``); it
is priced at 45 nm with SRAM, as no per-operation energy of Loihi's embedded x86 cores is published.
Loihi 2's own per-operation energies are not public either (Intel's brief and Orchard et al., SiPS 2021,
report speed-ups and whole-workload figures): these are Loihi 1's.

Components that are not populations of their own are not updated twice: ``layer{i}.input`` for i > 0
and ``decoder.input`` are ``layer{i-1}.out``'s spikes seen by their consumer (docs/ARCHITECTURE.md), so
their synaptic operations count and their neuron updates do not; ``sfg`` has no spikes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from energy.activity import ActivityRecord
from energy.float_work import FloatShape, float_macs
from energy.ops import HOROWITZ, OpTable

WORD_BITS = 64  # Horowitz prices SRAM reads per 64-bit word
# a bank between an 8 KB scratchpad and Loihi 2's memory per core (192 KB by Intel's brief, not verified here)
SRAM_BANK = "sram_32kb_read_64b"
FLOAT_BITS = 32
INTEGER_STATE_BITS = 24  # export/fixed_point.py STATE_BITS: the membrane of the integer model
# components whose spikes accumulate activations (q s_k^T, alpha s_v), not weights (spiking/populations.py)
ACTIVATION_OPERANDS = (".k", ".v")

LOIHI = OpTable(
    name="loihi",
    source="Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE Micro 2018, "
    "Table 2 (Loihi, 14 nm, circuit simulation): synaptic spike op (min) 23.6 pJ, neuron update (active) 81 pJ, "
    "spike within a tile 1.7 pJ",
    ops_pj={"synaptic_op": 23.6, "neuron_update": 81.0, "spike_message": 1.7},
)
ESTIMATES = ("arithmetic", "sram", "loihi")


@dataclasses.dataclass(frozen=True)
class Counts:
    """Synaptic operations, neuron updates and spike messages of one component (totals over steps)."""

    syn_ops: float
    updates: float
    spikes: float


def is_alias(name: str) -> bool:
    """A component that counts another population's spikes where they are consumed (no neurons of its own)."""
    if name == "decoder.input" or name == "sfg":
        return True
    layer, _, component = name.partition(".")
    return component == "input" and layer != "layer0"


def counts(record: ActivityRecord) -> dict[str, Counts]:
    """The operations of each component of a run, from its measured activity.

    A population's neurons are updated at every step it runs: all Tc for the encoder's, the steps the decoders
    read for theirs (they rest through their warm-up, ``record.decoder_read_steps`` = Tc - k).
    """
    result = {}
    for name, c in record.components.items():
        spikes = float(c.spikes.sum())
        updates = 0.0 if is_alias(name) else float(c.neurons * record.steps(name))
        result[name] = Counts(spikes * c.fan_out, updates, spikes if c.fan_out else 0.0)
    return result


def _sram_mj(table: OpTable, words: float) -> float:
    """``words`` 64-bit SRAM reads at ``table``'s price for them, or Horowitz's where it has none (``paper``)."""
    return (table if SRAM_BANK in table.ops_pj else HOROWITZ).mj(SRAM_BANK, words)


def _float_mj(macs: float, table: OpTable) -> float:
    """FP-MACs with one 32-bit operand read each (45 nm with SRAM)."""
    return table.mj("fp_mac", macs) + _sram_mj(table, macs * FLOAT_BITS / WORD_BITS)


def teacher_mj(fp_macs: float, table: OpTable) -> dict[str, float | None]:
    """A non-spiking model's energy per query by each estimate (None: no Loihi estimate, it has no spikes)."""
    return {"arithmetic": table.mj("fp_mac", fp_macs), "sram": _float_mj(fp_macs, table), "loihi": None}


def estimates(
    records: Iterable[ActivityRecord], shape: FloatShape, table: OpTable, snn_op: str
) -> dict[str, dict[str, object]]:
    """Per-query energy (mJ) by estimate: ``{estimate: {"total_mj", "components_mj", "float_mj"}}`` and the
    operation counts per query, ``counts``: ``{component: {syn_ops, updates, spikes}}``."""
    records = list(records)
    weight_bits = 1 if snn_op == "int_acc" else FLOAT_BITS
    state_bits = INTEGER_STATE_BITS if snn_op == "int_acc" else FLOAT_BITS
    totals: dict[str, Counts] = {}
    macs = 0.0
    for record in records:
        for name, c in counts(record).items():
            old = totals.get(name, Counts(0.0, 0.0, 0.0))
            totals[name] = Counts(old.syn_ops + c.syn_ops, old.updates + c.updates, old.spikes + c.spikes)
        macs += sum(float_macs(record, shape).values())
    queries = sum(record.queries for record in records)
    components: dict[str, dict[str, float]] = {estimate: {} for estimate in ESTIMATES}
    for name, c in sorted(totals.items()):
        arithmetic = table.mj(snn_op, c.syn_ops)
        operand_bits = state_bits if name.endswith(ACTIVATION_OPERANDS) else weight_bits
        reads = c.syn_ops * operand_bits / WORD_BITS + c.updates * 2 * state_bits / WORD_BITS
        components["arithmetic"][name] = arithmetic / queries
        components["sram"][name] = (arithmetic + _sram_mj(table, reads)) / queries
        loihi = LOIHI.mj("synaptic_op", c.syn_ops) + LOIHI.mj("neuron_update", c.updates)
        components["loihi"][name] = (loihi + LOIHI.mj("spike_message", c.spikes)) / queries
    float_mj = {"arithmetic": table.mj("fp_mac", macs) / queries}
    float_mj["sram"] = float_mj["loihi"] = _float_mj(macs, table) / queries  # off the neuro-cores
    result: dict[str, dict[str, object]] = {
        estimate: {
            "total_mj": sum(components[estimate].values()) + float_mj[estimate],
            "components_mj": components[estimate],
            "float_mj": float_mj[estimate],
        }
        for estimate in ESTIMATES
    }
    result["counts"] = {name: {k: v / queries for k, v in dataclasses.asdict(c).items()} for name, c in totals.items()}
    return result
