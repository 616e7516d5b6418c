"""Energy: the paper's section 5.1 numbers by formula, and the student's measured energy at each Tc.

    python -m benchmarks.energy_tc [--quick]

Both through the ``vtg energy`` command (``--json``):

* ``vtg energy formula`` at the paper's size (L = 200, D = 1024, 4 layers, Tc = 10, its rates
  in 0.40, k 0.18, v 0.19, attn 0.03, int 0.09): E_A about 23.9 mJ, E_S about 1.3 mJ;
* ``vtg energy report`` on the student of :mod:`benchmarks.assets` over demo val queries at Tc = 1, 2,
  4, 8, 16: the spikes it actually emits priced at 45 nm (INT-ACC for the 1-bit NF), against a
  non-spiking encoder of the same size.

Result: benchmarks/results/energy_tc.json.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.assets import STUDENT_TRAINING, WORK, demo_data, student_checkpoint
from benchmarks.common import ROOT, machine_info, quick_main, run_json, tool, write_result

NAME = "energy_tc"
TCS = "1,2,4,8,16"
PAPER = {"seq_len": 200, "hidden": 1024, "layers": 4, "tc": 10, "ifr": "in=0.40,k=0.18,v=0.19,attn=0.03,int=0.09"}


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Formula at the paper's size and a measured Tc sweep of the student; writes and returns the result."""
    vtg = tool("vtg")
    formula = run_json(
        [vtg, "energy", "formula", "--seq-len", str(PAPER["seq_len"]), "--hidden", str(PAPER["hidden"]),
         "--layers", str(PAPER["layers"]), "--tc", str(PAPER["tc"]), "--ifr", PAPER["ifr"], "--json"]
    )  # fmt: skip
    data, checkpoint = demo_data(), student_checkpoint(quick)
    limit = "16" if quick else "64"
    if progress:
        print(f"[{NAME}] vtg energy report at Tc {TCS} on {limit} val queries ...", file=sys.stderr, flush=True)
    report = run_json(
        [vtg, "energy", "report", "--checkpoint", str(checkpoint), "--data", str(data), "--split", "val",
         "--tc", TCS, "--limit", limit, "--out", str(WORK / "energy"), "--json"],
        log=WORK / "energy.log",
    )  # fmt: skip
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "paper_formula": {"inputs": PAPER, **formula},
        "measured": {
            "checkpoint": str(checkpoint.relative_to(ROOT)),
            "student_training": STUDENT_TRAINING,
            "data": {"root": str(data.relative_to(ROOT)), "split": "val", "queries": int(limit)},
            "reference": report["reference"],
            "points": report["points"],
        },
    }
    write_result(NAME, result)
    return result


def headline(result: dict[str, Any]) -> dict[Any, float]:
    """What ``main`` prints: the one number per configuration a reader looks at first."""
    return {p["tc"]: p["total_mj"] for p in result["measured"]["points"]}


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, "16 val queries instead of 64", run, headline)


if __name__ == "__main__":
    sys.exit(main())
