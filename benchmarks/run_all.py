"""Run every benchmark and write benchmarks/results/*.json and benchmarks/results/SUMMARY.md.

    python -m benchmarks.run_all [--quick] [--only NAME[,NAME...]] [--summary-only]      (also: make bench)

Each benchmark is a module of this package with ``run(quick: bool) -> dict`` that writes its own JSON.
The runner calls them in turn, shows which one is running and how long it took, and then writes the
summary from the JSON files in benchmarks/results/ (so a benchmark left out with ``--only`` keeps its
earlier numbers in the summary). A benchmark that fails is reported and the others still run; the
exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS
from benchmarks.summary import SECTIONS, write_summary

# in the order they run: the cheap ones first, the long memory benchmark last
BENCHMARKS = (
    "simulation_speed",
    "training_throughput",
    "inference_tc",
    "energy_tc",
    "lava_simulation",
    "implicit_vs_bptt",
    "student_vs_nonspiking",  # about 1.5 hours on 2 cores: 24 trainings, 5 Tc x 1000 val queries each scored
    "distillation_control",  # about 45-55 minutes on 2 cores: its own make demo and 3 label-only trainings
    "distillation_heldout",  # about 55 minutes on 2 cores: make demo's teacher and distillation on 2 other worlds
    "sdst_ablations",  # about an hour on 2 cores: 10 trainings (--quick: 5 minutes)
)
MODULES = {name: f"benchmarks.{name}" for name in BENCHMARKS}


def load_results(results: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """The result JSON of each known benchmark present in ``results``."""
    found = {}
    for name in SECTIONS:
        path = results / f"{name}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes and counts (a smoke run, minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--summary-only", action="store_true", help="only rewrite SUMMARY.md from the JSON files")
    args = parser.parse_args(argv)
    if args.summary_only:
        print(f"[run_all] wrote {write_summary(load_results(), RESULTS / 'SUMMARY.md')}")
        return 0
    names = BENCHMARKS if not args.only else tuple(n.strip() for n in args.only.split(",") if n.strip())
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"run_all: unknown benchmark(s) {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})")
        return 2
    errors: dict[str, str] = {}
    start = time.perf_counter()
    for index, name in enumerate(names, 1):
        print(f"[run_all] ({index}/{len(names)}) {name}{' --quick' if args.quick else ''}", flush=True)
        begin = time.perf_counter()
        try:
            importlib.import_module(MODULES[name]).run(args.quick)
        except Exception as error:  # one broken benchmark must not cost the others' numbers
            traceback.print_exc()
            errors[name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            print(f"[run_all] {name} FAILED: {errors[name]}", flush=True)
            continue
        print(f"[run_all] {name} done in {time.perf_counter() - begin:.0f} s", flush=True)
    summary = write_summary(load_results(), RESULTS / "SUMMARY.md", errors)
    print(f"[run_all] wrote {summary} ({time.perf_counter() - start:.0f} s in all)", flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
