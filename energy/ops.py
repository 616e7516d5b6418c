"""Operation-energy tables: picojoules per arithmetic operation at 45 nm.

Every estimate in :mod:`energy` is a count of operations of three kinds, priced by a table:

* ``fp_mac`` - a floating-point multiply-accumulate, the unit of work of a non-spiking network;
* ``fp_acc`` - a floating-point accumulation, what a spike arriving at a real-valued weight costs;
* ``int_acc`` - an integer accumulation, what a spike costs when the weights are binary (1-bit NF).

Built-in tables:

* ``paper`` - the SpikingVTG paper, section 5.1: FP-MAC 4.6 pJ, FP-ACC 0.9 pJ, INT-ACC 0.1 pJ
  (45 nm CMOS, 32 bit, after Horowitz).
* ``horowitz`` - M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
  45 nm, 0.9 V: 32-bit FP add 0.9, FP mult 3.7, int add 0.1, int mult 3.1; 8-bit int add 0.03,
  int mult 0.2; 16-bit FP add 0.4, FP mult 1.1 pJ. Horowitz gives no MAC figure: a MAC is priced here as
  one multiply plus one add (``*_mac = *_mult + *_add``, so ``fp32_mac`` = 3.7 + 0.9 = 4.6 pJ, the
  paper's FP-MAC). Its ``fp_mac``/``fp_acc``/``int_acc`` are the 32-bit entries, so by default it
  prices exactly as ``paper`` does; its other entries are there to build reduced-precision tables.
  It also holds Horowitz's SRAM reads of one 64-bit word, ``sram_8kb_read_64b`` 10, ``sram_32kb_read_64b``
  20 and ``sram_1mb_read_64b`` 100 pJ, which the with-memory estimate of :mod:`energy.neuromorphic`
  adds beside the arithmetic (never into ``fp_mac``/``fp_acc``/``int_acc``: the paper's figures stay).

A user table is a YAML file (see ``configs/energy_int8_fp16.yaml``)::

    name: int8-fp16                # optional, shown in reports
    source: Horowitz 2014, 8-bit int and 16-bit FP      # optional
    ops_pj: {fp_mac: 1.5, fp_acc: 0.4, int_acc: 0.03}   # the three kinds are required

``ops_pj`` may also carry any of the Horowitz entry names (``int8_add`` ...); other names, missing
kinds and values that are not non-negative numbers are :class:`~vtg.errors.UserError` naming the file
and the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from vtg.config import load_yaml
from vtg.errors import UserError, check_number

KINDS = ("fp_mac", "fp_acc", "int_acc")
PICOJOULES_PER_MILLIJOULE = 1e9


@dataclasses.dataclass(frozen=True)
class OpTable:
    """Energy in pJ of each operation kind (``ops_pj``), with a name and where the numbers come from."""

    name: str
    source: str
    ops_pj: dict[str, float]

    def mj(self, kind: str, count: float) -> float:
        """Energy in mJ of ``count`` operations of ``kind``."""
        return count * self.ops_pj[kind] / PICOJOULES_PER_MILLIJOULE


def _horowitz_entries() -> dict[str, float]:
    measured = {
        "fp32_add": 0.9,
        "fp32_mult": 3.7,
        "int32_add": 0.1,
        "int32_mult": 3.1,
        "int8_add": 0.03,
        "int8_mult": 0.2,
        "fp16_add": 0.4,
        "fp16_mult": 1.1,
    }
    # memory: a read of one 64-bit word from an SRAM of that size (the same figure of Horowitz's talk)
    memory = {"sram_8kb_read_64b": 10.0, "sram_32kb_read_64b": 20.0, "sram_1mb_read_64b": 100.0}
    # a MAC is one multiply and one add: Horowitz's table has no separate MAC entry
    precisions = ("fp32", "int32", "int8", "fp16")
    macs = {f"{p}_mac": round(measured[f"{p}_mult"] + measured[f"{p}_add"], 6) for p in precisions}
    kinds = {"fp_mac": macs["fp32_mac"], "fp_acc": measured["fp32_add"], "int_acc": measured["int32_add"]}
    return {**kinds, **measured, **macs, **memory}


HOROWITZ = OpTable(
    name="horowitz",
    source="Horowitz, ISSCC 2014, 45 nm (MAC = mult + add; fp_mac/fp_acc/int_acc are the 32-bit entries)",
    ops_pj=_horowitz_entries(),
)
PAPER = OpTable(
    name="paper",
    source="SpikingVTG section 5.1: 45 nm, 32 bit",
    ops_pj={"fp_mac": 4.6, "fp_acc": 0.9, "int_acc": 0.1},
)
BUILT_IN = {PAPER.name: PAPER, HOROWITZ.name: HOROWITZ}
KNOWN_OPS = tuple(HOROWITZ.ops_pj)


def table_from_mapping(data: dict[str, Any], location: str) -> OpTable:
    """Validate a user table given as a mapping (read from ``location``, a file name used in errors)."""
    unknown = set(data) - {"name", "source", "ops_pj"}
    if unknown:
        raise UserError(f"{location}: field '{sorted(unknown)[0]}': unknown (expected name, source, ops_pj)")
    ops = data.get("ops_pj")
    if not isinstance(ops, dict):
        raise UserError(f"{location}: field 'ops_pj': expected a mapping of operation -> pJ, got {ops!r}")
    values: dict[str, float] = {}
    for op, value in ops.items():
        field = f"{location}: field 'ops_pj.{op}'"
        if op not in KNOWN_OPS:
            raise UserError(f"{field}: unknown operation (choose from {', '.join(KNOWN_OPS)})")
        values[op] = check_number(value, field)
        if values[op] < 0:
            raise UserError(f"{field}: energy must be >= 0 pJ, got {value!r}")
    for kind in KINDS:
        if kind not in values:
            raise UserError(f"{location}: field 'ops_pj.{kind}': missing (required: {', '.join(KINDS)})")
    name = data.get("name", Path(location).stem)
    source = data.get("source", location)
    for field, value in (("name", name), ("source", source)):
        if not isinstance(value, str):
            raise UserError(f"{location}: field '{field}': expected a string, got {value!r}")
    return OpTable(name=name, source=source, ops_pj=values)


def load_table(spec: str | Path) -> OpTable:
    """A built-in table by name (``paper``, ``horowitz``) or a user table from a YAML file."""
    if str(spec) in BUILT_IN:
        return BUILT_IN[str(spec)]
    path = Path(spec)
    if path.suffix not in (".yaml", ".yml"):
        names = ", ".join(BUILT_IN)
        raise UserError(f"option '--table': {spec!r} is neither a built-in table ({names}) nor a .yaml file")
    return table_from_mapping(load_yaml(path), str(path))
