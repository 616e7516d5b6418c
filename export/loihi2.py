"""Will the exported model fit on Loihi 2? Resources and number formats of a Lava bundle, per population.

``vtg deploy check --bundle B`` and ``vtg-export --target lava ... --check loihi2`` map the integer model
of ``export/fixed_point.py`` onto Loihi 2's published limits (:data:`LIMITS`, each with its source and
whether it was verified: the memory and neuron count per core are Intel's brief as cited, not verified;
the sources and the assumptions where a number is not public are in ``export/LAVA.md``) and report:

* **populations** (a neuron or an accumulator per token and channel), each with its neurons, its fan-in
  (synapses per neuron, over every incoming connection), its state and message bits, the memory it
  needs on its neuro-cores and the neuro-cores it takes;
* **connections** (one weight layer, or a residual spike, between two populations): synapses = target
  neurons x fan-in = source neurons x fan-out, 1-bit weights (sgn W), or the residual weight R;
* **off-core operations**: what a neuro-core cannot do, because its operands are two dynamic tensors
  (attention), it needs a reduction over clips or a square root (SFG), or a table (GELU), with its
  count per timestep or per query and where it runs (the chips' embedded x86 cores, or the host);
* **totals**: neurons, synapses, memory, neuro-cores, and the chips needed.

Memory of one neuron on its core, in bits (dense 1-bit synapses; the synapse encoding is not public)::

    m = fan_in x weight_bits + state_bits            state: membrane U (24) and bias (24); 24 for an accumulator
    neurons per core = min(8192, floor(192 KiB x 8 / m));  cores = ceil(neurons / neurons per core)
    chips = max(ceil(cores / 128), ceil(neurons / 2^20), ceil(synapses / 120e6))

Token counts: every population holds one neuron per token and channel for the longest input the bundle
accepts (``max_clips`` video clips and ``max_text`` query tokens), because synapses are fixed: a
per-token linear layer is a block-diagonal connection, stored once per token (weight sharing across
tokens is not assumed; Loihi 2 compresses convolutional connectivity but its format is not public).

A broken limit (a value beyond the 24-bit state, a neuron that cannot fit on one core, a float-only
bundle) is a :class:`~vtg.errors.UserError` naming the population and the limit: exit status 2.

**Worst-case currents** (a warning, not a broken limit): a population fed only by synapses receives per
step at most

    |I| <= sum over its 1-bit layers (fan_in << F + max|B|) + sum over its residual spikes |R|

(every input spike in phase with its weight). Beyond the 24-bit state a chip's current wraps (Lava's
bit-accurate LIF wraps ``u`` modulo 2^24) where the integer reference keeps it whole (a neuron's
membrane is clamped only after adding it; an accumulator is not clamped), so the two would part there.
Reached only by an input whose spikes all agree with the signs of one neuron's weights, so it is
reported, not refused. Populations fed by off-core graded currents
(input, attention, GELU, rate-driven increments) have data-dependent bounds and are not reported.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from export import fixed_point as fp
from export.bundle import Bundle, read_bundle
from vtg.atomic import atomic_write_text
from vtg.errors import UserError
from vtg.json_file import to_json

DEFAULT_MAX_TEXT = 32  # QVHighlights queries are cut at 32 tokens by Moment-DETR and UniVTG


@dataclasses.dataclass(frozen=True)
class Limit:
    """One hardware number and where it comes from (``public`` False: an assumption, said so)."""

    value: int
    unit: str
    source: str
    public: bool = True


INTEL_BRIEF = "Intel Labs, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', technology brief, 2021"
# What each number was checked against (export/LAVA.md quotes the pages): the brief's own table could not be
# consulted, so the chip-level counts were checked against WikiChip's and open-neuromorphic.org's Loihi 2 pages
# and the formats against Lava's bit-accurate models; the two per-core figures are the brief's as cited, unverified.
CHECKED_PAGES = "matches WikiChip's and open-neuromorphic.org's Loihi 2 pages"
LAVA_SOURCE = "Lava 0.10 (lava-nc), fixed_pt models of Dense and LIF (the Loihi bit-accurate models)"
LIMITS: dict[str, Limit] = {
    "neuro_cores_per_chip": Limit(128, "cores", f"{INTEL_BRIEF}; {CHECKED_PAGES}"),
    "embedded_cores_per_chip": Limit(6, "x86 cores", f"{INTEL_BRIEF}; {CHECKED_PAGES} (6 Lakemont cores)"),
    "neurons_per_core": Limit(
        8192, "neurons", f"{INTEL_BRIEF} as cited; not verified directly: WikiChip's 1,048,576 per chip / 128 cores"
    ),
    "neurons_per_chip": Limit(128 * 8192, "neurons", f"{INTEL_BRIEF} ('1M'); WikiChip's Loihi 2 page: 1,048,576"),
    "synapses_per_chip": Limit(120_000_000, "synapses", f"{INTEL_BRIEF}; {CHECKED_PAGES}"),
    "memory_per_core": Limit(
        192 * 1024,
        "bytes",
        f"{INTEL_BRIEF} as cited ('192 KB', flexibly partitioned; its split is not public); not verified: the "
        "brief's table could not be consulted, and a news page gives 128 KB per core",
    ),
    "weight_bits": Limit(8, "bits", LAVA_SOURCE + ": 8-bit weights with a shared exponent weight_exp"),
    "state_bits": Limit(24, "bits", LAVA_SOURCE + ": 24-bit u and v"),
    "message_bits": Limit(
        24,
        "bits",
        "assumed: a graded spike's integer payload as wide as the state (brief: graded spikes; Lava's "
        "bit-accurate LIF sends a 24-bit s_out)",
        False,
    ),
}

TERNARY_MESSAGE_BITS = 2  # a spike in {-1, 0, 1}: a graded spike of payload +-1
NEURON_STATE_BITS = 2 * fp.STATE_BITS  # membrane U and the neuron's bias B
ACCUMULATOR_STATE_BITS = fp.STATE_BITS  # a current read out, not fired (q, the last decoder convolutions)


@dataclasses.dataclass
class Population:
    name: str
    kind: str  # "ternary LIF", "IF", "accumulator"
    neurons: int
    fan_in: int  # synapses per neuron over every incoming connection
    state_bits: int
    message_bits: int  # of what it sends: ternary spikes or a graded current
    memory_bytes: int = 0
    cores: int = 0
    worst_current: int | None = None  # per step, integer units (None: fed by an off-core graded current)


@dataclasses.dataclass
class Connection:
    name: str
    source: str
    target: str
    fan_in: int
    fan_out: int
    synapses: int
    weight_bits: int
    weight: str  # what the weights are


@dataclasses.dataclass
class OffCore:
    name: str
    operation: str
    count: int
    per: str  # "step" or "query"
    where: str


EMBEDDED = "embedded x86 cores"
HOST = "host"


def _bits(value: int) -> int:
    """Bits of a signed integer holding ``value``."""
    return int(abs(value)).bit_length() + 1


def _nearest_weight(value: int, bits: int) -> tuple[int, int]:
    """The nearest m 2^e to ``value`` with |m| < 2^(bits-1): (m, e), e >= 0."""
    exponent = max(0, _bits(value) - bits)
    mantissa = int(np.floor(value / 2**exponent + 0.5))
    if abs(mantissa) >= 2 ** (bits - 1):  # rounding carried into one more bit (255 -> 128 x 2 with 8 bits)
        exponent += 1
        mantissa = int(np.floor(value / 2**exponent + 0.5))
    return mantissa, exponent


class _Plan:
    """Populations, connections and off-core operations of one architecture, built in model order."""

    def __init__(self) -> None:
        self.populations: dict[str, Population] = {}
        self.connections: list[Connection] = []
        self.off_core: list[OffCore] = []
        self.notes: list[str] = []

    def population(self, name: str, kind: str, neurons: int, message_bits: int = TERNARY_MESSAGE_BITS) -> None:
        state = ACCUMULATOR_STATE_BITS if kind == "accumulator" else NEURON_STATE_BITS
        self.populations[name] = Population(name, kind, neurons, 0, state, message_bits)

    def connect(
        self, name: str, source: str, target: str, fan_in: int, weight_bits: int, weight: str, read: int | None = None
    ) -> None:
        """``read``: how many of the source's neurons the connection reads (default all of them)."""
        target_neurons = self.populations[target].neurons
        self.populations[target].fan_in += fan_in
        synapses = target_neurons * fan_in
        source_neurons = read or (self.populations[source].neurons if source in self.populations else 0)
        fan_out = synapses // source_neurons if source_neurons else 0
        self.connections.append(Connection(name, source, target, fan_in, fan_out, synapses, weight_bits, weight))


def plan(arch: dict[str, Any], max_text: int) -> _Plan:
    """The populations, connections and off-core operations of a 1-bit NF SpikingVTG on neuro-cores."""
    D, F, N = arch["hidden_dim"], arch["ffn_dim"], arch["num_layers"]
    Lv, Lq = arch["max_clips"], max_text
    L = Lv + Lq
    p = _Plan()
    # the input neurons' current [rshift(V g, 12); Q] multiplies the gate g (dynamic) by V: off-core, sent in
    p.population("input", "ternary LIF", L * D)
    p.connect("input.current", EMBEDDED, "input", 1, fp.STATE_BITS, "graded current, one-to-one")
    features = Lv * arch["video_dim"] + Lq * arch["text_dim"]
    if arch["host_input_layers"]:  # LayerNorm (2 MACs per element) and Linear per layer, in floating point
        dv, dt = arch["video_dim"], arch["text_dim"]
        host = arch["host_input_layers"] * (Lv * dv * (dv + 2) + Lq * dt * (dt + 2))
        p.off_core.append(OffCore("input.host", "host input layers: ReLU(W LN(X) + b), float", host, "query", HOST))
    p.off_core += [
        OffCore("input.projection", "V = W_v X, Q = W_t X of 16-bit features (1-bit W)", features * D, "query", HOST),
        OffCore("sfg.sentence", "M: logits Q W_p, ReLU, sum_j w_j Q_j (dynamic products)", 2 * Lq * D, "query", HOST),
        OffCore("sfg.traces", "ASR traces A, N of the last layer's video spikes", 2 * Lv * D, "step", EMBEDDED),
        OffCore(
            "sfg.cosine",
            "c_i = A_i.M / (isqrt(|A_i|^2 + eps^2) isqrt(|M|^2)): dot products, square roots, divisions",
            2 * Lv * D + 2 * Lv,
            "step",
            EMBEDDED,
        ),
        OffCore("sfg.minmax", "g = (c - min c) / (max c - min c): a reduction over clips", 3 * Lv, "step", EMBEDDED),
        OffCore("sfg.gate", "rshift(V g, 12): products of V and the dynamic gate", Lv * D, "step", EMBEDDED),
    ]
    if arch["rate_driven"]:  # model.rate_driven: the increments N P - rshift(G N' P') (hw_sim FixedPoint.drive)
        drive = OffCore("input.drive", "rate-driven current: N P - rshift(G N' P')", 2 * L * D, "step", EMBEDDED)
        p.off_core.append(drive)
    for i in range(N):
        source = "input" if i == 0 else f"layer{i - 1}.out"
        layer = f"layer{i}"
        p.population(f"{layer}.q", "accumulator", L * D, fp.STATE_BITS)  # its current feeds the attention
        for name in ("q", "k", "v"):
            if name != "q":
                p.population(f"{layer}.{name}", "ternary LIF", L * D)
            p.connect(f"{layer}.{name}", source, f"{layer}.{name}", D, 1, "sgn W (1 bit)")
        p.population(f"{layer}.attn", "ternary LIF", L * D)
        p.connect(f"{layer}.attention", EMBEDDED, f"{layer}.attn", 1, fp.STATE_BITS, "graded current, one-to-one")
        p.off_core.append(
            OffCore(
                f"{layer}.attention",
                "S = Q s_k^T, ReLU(S) s_v, x K_L: products of two dynamic tensors (no fixed synapse)",
                2 * L * L * D + L * D,
                "step",
                EMBEDDED,
            )
        )
        p.population(f"{layer}.so", "ternary LIF", L * D)
        p.connect(f"{layer}.so", f"{layer}.attn", f"{layer}.so", D, 1, "sgn W (1 bit)")
        p.connect(f"{layer}.so.residual", source, f"{layer}.so", 1, fp.STATE_BITS, "residual R, one-to-one")
        if arch["activation"] == "gelu" or arch["rate_driven"]:
            # the current W_int x goes out (through the GELU table, or into the rate-driven increments) and comes
            # back; rate-driven, x is the self-output's ASR trace, kept off-core and sent in as graded spikes
            p.population(f"{layer}.int.current", "accumulator", L * F, fp.STATE_BITS)
            source = EMBEDDED if arch["rate_driven"] else f"{layer}.so"
            p.connect(f"{layer}.int", source, f"{layer}.int.current", D, 1, "sgn W (1 bit)")
            p.population(f"{layer}.int", "ternary LIF", L * F)
            graded = f"{layer}.int.gelu" if arch["activation"] == "gelu" else f"{layer}.int.drive"
            p.connect(graded, EMBEDDED, f"{layer}.int", 1, fp.STATE_BITS, "graded current, one-to-one")
            if arch["activation"] == "gelu":
                gelu = OffCore(f"{layer}.int.gelu", "GELU table lookup on the current", L * F, "step", EMBEDDED)
                p.off_core.append(gelu)
        else:
            p.population(f"{layer}.int", "ternary LIF", L * F)
            p.connect(f"{layer}.int", f"{layer}.so", f"{layer}.int", D, 1, "sgn W (1 bit)")
        if arch["rate_driven"]:
            p.off_core.append(
                OffCore(
                    f"{layer}.int.drive",
                    "rate-driven current: ASR trace of s_so, rdiv(W_int trace, N), N P - rshift(G N' P')",
                    L * D + 3 * L * F,
                    "step",
                    EMBEDDED,
                )
            )
        p.population(f"{layer}.out", "ternary LIF", L * D)
        p.connect(f"{layer}.out", f"{layer}.int", f"{layer}.out", F, 1, "sgn W (1 bit)")
        p.connect(f"{layer}.out.residual", f"{layer}.so", f"{layer}.out", 1, fp.STATE_BITS, "residual R, one-to-one")
    last = f"layer{N - 1}.out"
    for head, channels in (("f", 1), ("d", 2)):
        layers, kernel = arch[f"{head}_layers"], arch[f"{head}_kernel"]
        source = last  # its video clips: the decoders read Lv of its L tokens
        for j in range(layers):
            name = f"decoder.{head}.{j}"
            if j < layers - 1:
                p.population(name, "IF", Lv * D)
            else:  # the read-out convolution: its current leaves the chip, no neuron fires
                p.population(name, "accumulator", Lv * channels, fp.STATE_BITS)
            # the first convolution reads the last layer's Lv video clips of its L tokens
            read = Lv * D if j == 0 else None
            p.connect(name, source, name, D * kernel, 1, "sgn W (1 bit), convolution", read)
            source = name
        summed = OffCore(f"decoder.{head}.readout", "sum over Tc, then softplus", Lv * channels, "step", HOST)
        p.off_core.append(summed)
    return p


def _place(p: _Plan) -> list[str]:
    """Memory and neuro-cores of each population; the broken limits, one line each."""
    broken = []
    core_bits = LIMITS["memory_per_core"].value * 8
    for pop in p.populations.values():
        weight_bits = sum(c.fan_in * c.weight_bits for c in p.connections if c.target == pop.name)
        bits = weight_bits + pop.state_bits
        pop.memory_bytes = math.ceil(pop.neurons * bits / 8)
        if bits > core_bits:
            broken.append(
                f"{pop.name}: one neuron needs {bits} bits (fan-in {pop.fan_in} synapses and its state), "
                f"beyond Loihi 2's memory per neuro-core ({LIMITS['memory_per_core'].value} bytes)"
            )
            continue
        per_core = min(LIMITS["neurons_per_core"].value, core_bits // bits)
        pop.cores = math.ceil(pop.neurons / per_core)
        if pop.message_bits > LIMITS["message_bits"].value:
            broken.append(f"{pop.name}: {pop.message_bits}-bit messages, beyond a graded spike's payload")
    return broken


def _check_values(bundle: Bundle) -> tuple[list[str], list[dict[str, Any]]]:
    """The bundle's integers against the state and weight formats: broken limits, and the residual
    weights R (m 2^e with an 8-bit m: the nearest, and its relative error where R is not exact)."""
    broken: list[str] = []
    residuals = []
    scalars = bundle.manifest["fixed_point"]["scalars"]
    arrays = bundle.arrays["fixed"]
    state = fp.STATE_MAX
    for name, array in sorted(arrays.items()):
        if not name.endswith(".bias") or name.startswith("input."):
            continue  # the input biases (with positions) are added off-core, in V and Q
        population = name.removesuffix(".bias")
        worst = int(np.abs(array).max(initial=0))
        if worst > state:
            broken.append(
                f"{population}: bias {worst} needs {_bits(worst)} bits, beyond Loihi 2's "
                f"{LIMITS['state_bits'].value}-bit neuron state"
            )
    for name, value in sorted(scalars.items()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > state and name != "sfg.eps":
            if name.endswith((".scale", ".attention_scale", ".gelu_offset", ".gelu_shift")):
                continue  # multipliers and the GELU table's constants: off-core arithmetic, not neuron state
            broken.append(
                f"{name.rsplit('.', 1)[0]}: {name.rsplit('.', 1)[1]} {value} needs {_bits(value)} bits, beyond "
                f"Loihi 2's {LIMITS['state_bits'].value}-bit neuron state"
            )
        if name.endswith(".residual"):
            mantissa, exponent = _nearest_weight(value, LIMITS["weight_bits"].value)
            residuals.append(
                {
                    "population": name.removesuffix(".residual"),
                    "residual": value,
                    "mantissa": mantissa,
                    "exponent": exponent,
                    "exact": mantissa * 2**exponent == value,
                    "relative_error": abs(mantissa * 2**exponent - value) / value if value else 0.0,
                }
            )
    return broken, residuals


def _worst_currents(report: dict[str, Any], bundle: Bundle) -> list[str]:
    """Fill each population's ``worst_current`` (the bound in the module docstring) in ``report``; the
    warnings of those beyond the 24-bit state, one line each."""
    arrays, scalars = bundle.arrays["fixed"], bundle.manifest["fixed_point"]["scalars"]
    bounds: dict[str, int | None] = {}
    for c in report["connections"]:
        if c["weight_bits"] == 1 and c["source"] != EMBEDDED:  # a 1-bit layer of spikes (+-1) and its bias B
            bias = int(np.abs(arrays[f"{c['name']}.bias"]).max(initial=0))
            term: int | None = (c["fan_in"] << fp.MEMBRANE_FRAC_BITS) + bias
        elif c["name"].endswith(".residual"):  # one residual spike of weight R
            term = abs(scalars[c["name"]])
        else:  # a graded current or graded spikes from the embedded cores: bounded by their data
            term = None
        previous = bounds.get(c["target"], 0)
        bounds[c["target"]] = None if term is None or previous is None else previous + term
    warnings = []
    for pop in report["populations"]:
        pop["worst_current"] = worst = bounds.get(pop["name"])
        if worst is not None and worst > fp.STATE_MAX:
            warnings.append(
                f"{pop['name']}: worst-case input current {worst} ({_bits(worst)} bits, fan-in {pop['fan_in']}) "
                f"is beyond the {LIMITS['state_bits'].value}-bit state when every input spike agrees with its "
                "weight; a chip's current would wrap there, the integer reference's does not"
            )
    return warnings


def resources(arch: dict[str, Any], max_text: int = DEFAULT_MAX_TEXT) -> dict[str, Any]:
    """The report of an architecture alone (no weights): populations, connections, off-core operations,
    totals, and the limits its shape breaks (``broken``)."""
    if max_text < 1:
        raise UserError(f"option --max-text: expected at least 1, got {max_text}")
    p = plan(arch, max_text)
    broken = _place(p)
    pops = list(p.populations.values())
    neurons = sum(pop.neurons for pop in pops)
    synapses = sum(c.synapses for c in p.connections)
    cores = sum(pop.cores for pop in pops)
    chips = {
        "by_cores": math.ceil(cores / LIMITS["neuro_cores_per_chip"].value),
        "by_neurons": math.ceil(neurons / LIMITS["neurons_per_chip"].value),
        "by_synapses": math.ceil(synapses / LIMITS["synapses_per_chip"].value),
    }
    return {
        "format": "vtg-loihi2-check/1",
        "tokens": {"max_clips": arch["max_clips"], "max_text": max_text},
        "limits": {name: dataclasses.asdict(limit) for name, limit in LIMITS.items()},
        "populations": [dataclasses.asdict(pop) for pop in pops],
        "connections": [dataclasses.asdict(c) for c in p.connections],
        "off_core": [dataclasses.asdict(op) for op in p.off_core],
        "totals": {
            "neurons": neurons,
            "synapses": synapses,
            "memory_bytes": sum(pop.memory_bytes for pop in pops),
            "neuro_cores": cores,
            "chips": max(chips.values()),
            "chips_by": chips,
            "embedded_cores": max(chips.values()) * LIMITS["embedded_cores_per_chip"].value,
            "off_core_ops_per_step": sum(op.count for op in p.off_core if op.per == "step"),
            "off_core_ops_per_query": sum(op.count for op in p.off_core if op.per == "query"),
        },
        "broken": broken,
    }


def check(bundle: Bundle, max_text: int = DEFAULT_MAX_TEXT) -> dict[str, Any]:
    """The Loihi 2 report of a read bundle (the JSON the commands write): :func:`resources` of its
    architecture, then its integers against the state and weight formats. ``broken`` lists each limit
    the bundle breaks, one line each (empty when it fits); ``warnings`` the populations whose worst-case
    current is beyond the state (:func:`_worst_currents`)."""
    arch = bundle.architecture
    if bundle.manifest.get("fixed_point") is None:
        raise UserError(
            f"{bundle.path}: variant '{arch['variant']}' is float only: Loihi 2's neuro-cores compute in "
            "fixed point (export a 1bit_nf model)"
        )
    report = resources(arch, max_text)
    broken, residuals = _check_values(bundle)
    warnings = _worst_currents(report, bundle)
    return {
        **report,
        "bundle": str(bundle.path),
        "residual_weights": residuals,
        "warnings": warnings,
        "broken": report["broken"] + broken,
    }


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:g}"


def table(report: dict[str, Any]) -> list[str]:
    """The report for people: populations, off-core operations, totals."""
    lines = [
        f"Loihi 2 check of {report.get('bundle', 'an architecture')} ({report['tokens']['max_clips']} clips + "
        f"{report['tokens']['max_text']} query tokens)",
        f"{'population':<22} {'kind':<12} {'neurons':>8} {'fan-in':>7} {'synapses':>9} {'state':>5} "
        f"{'msg':>4} {'memory':>8} {'cores':>6}",
    ]
    synapses_in: dict[str, int] = {}
    for c in report["connections"]:
        synapses_in[c["target"]] = synapses_in.get(c["target"], 0) + c["synapses"]
    for pop in report["populations"]:
        lines.append(
            f"{pop['name']:<22} {pop['kind']:<12} {_si(pop['neurons']):>8} {pop['fan_in']:>7} "
            f"{_si(synapses_in.get(pop['name'], 0)):>9} {pop['state_bits']:>5} {pop['message_bits']:>4} "
            f"{_si(pop['memory_bytes']) + 'B':>8} {pop['cores']:>6}"
        )
    lines.append("off the neuro-cores:")
    for op in report["off_core"]:
        lines.append(f"  {op['name']:<20} {_si(op['count']):>7} per {op['per']:<5} on {op['where']}: {op['operation']}")
    inexact = [r for r in report.get("residual_weights", []) if not r["exact"]]
    if inexact:
        worst = max(r["relative_error"] for r in inexact)
        lines.append(
            f"residual weights R: {len(inexact)} of {len(report['residual_weights'])} not exact as an 8-bit "
            f"mantissa with an exponent (relative error up to {worst:.2g}; the integer reference uses R exactly)"
        )
    lines += [f"warning: {line}" for line in report.get("warnings", [])]
    t = report["totals"]
    by = t["chips_by"]
    lines += [
        f"total: {_si(t['neurons'])} neurons, {_si(t['synapses'])} synapses, {_si(t['memory_bytes'])}B, "
        f"{t['neuro_cores']} neuro-cores; {_si(t['off_core_ops_per_step'])} off-core operations per step, "
        f"{_si(t['off_core_ops_per_query'])} per query",
        f"chips: {t['chips']} (by neuro-cores {by['by_cores']}, by neurons {by['by_neurons']}, by synapses "
        f"{by['by_synapses']}), with {t['embedded_cores']} embedded x86 cores",
    ]
    return lines


def default_report_path(bundle: Path) -> Path:
    """Where the JSON goes by default: beside the bundle folder (a bundle's folder holds only its files)."""
    bundle = Path(os.path.abspath(bundle))  # "." and ".." have no name of their own (a link stays a link)
    return bundle.with_name(bundle.name + ".loihi2.json")


def run_check(bundle_path: Path, out: Path, max_text: int, as_json: bool, extra: dict | None = None) -> int:
    """Read, check, write the JSON to ``out``, print the table (or one JSON object: ``extra`` with the
    report under ``loihi2``, or the report itself); a broken limit ends in a UserError (exit status 2)."""
    report = check(read_bundle(bundle_path), max_text)
    atomic_write_text(out, to_json(report, indent=2) + "\n")
    if as_json:
        print(to_json({**extra, "loihi2": report, "check_out": str(out)} if extra else {**report, "out": str(out)}))
    else:
        print("\n".join(table(report) + [f"wrote {out}"]))
    if report["broken"]:
        more = f" (and {len(report['broken']) - 1} more in {out})" if len(report["broken"]) > 1 else ""
        raise UserError(report["broken"][0] + more)
    return 0
