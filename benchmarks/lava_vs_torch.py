"""Lava CPU simulation against the PyTorch references: queries per second on the same model and queries.

    python benchmarks/lava_vs_torch.py --bundle BUNDLE --data DIR [--split val] [--limit N] [--tc N]
                                       [--precision fixed|float] [--batch B]

For each precision in the bundle (fixed, float) it runs the Lava network once over the queries
(hw_sim/simulation.py; compiling and starting the OS processes timed apart), then the PyTorch
reference of that precision on the same queries, one query at a time (the integer reference on int64
tensors; the SpikingVTG model itself in float64), and the official metrics of each run. The result,
with the number of Lava processes, the compile time and the accuracy cost of fixed against floating
point, goes to benchmarks/results/lava_vs_torch.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export.bundle import read_bundle  # noqa: E402
from hw_sim.simulation import BATCH, load_queries, reference_runner, simulate_split  # noqa: E402
from vtg.atomic import atomic_write_text  # noqa: E402
from vtg.data.annotations import annotation_to_record  # noqa: E402
from vtg.errors import EXIT_USER_ERROR, UserError  # noqa: E402
from vtg.evaluation import score_predictions  # noqa: E402
from vtg.json_file import to_json  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--tc", type=int)
    parser.add_argument("--precision", choices=("fixed", "float"), help="only this precision (default: every one)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"queries per Lava run (default: {BATCH})")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lava_vs_torch.json")
    args = parser.parse_args()
    for option in ("tc", "limit", "batch"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"option --{option}: expected at least 1, got {getattr(args, option)}")

    torch.set_num_threads(1)  # the Lava processes each run single-threaded numpy: compare like with like
    bundle = read_bundle(args.bundle)
    tc = args.tc if args.tc is not None else bundle.manifest["tc"]
    dataset, queries = load_queries(str(args.data), args.split, args.limit, bundle)
    truths = [annotation_to_record(a) for a in dataset.annotations]
    result = {
        "bundle": str(args.bundle),
        "architecture": bundle.architecture,
        "data": str(args.data),
        "split": args.split,
        "queries": len(queries),
        "tc": tc,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "precisions": {},
    }
    for precision in [args.precision] if args.precision else bundle.precisions:
        report = simulate_split(bundle, queries, precision, tc, progress=True, batch=args.batch)
        reference = reference_runner(bundle, precision)
        begin = time.perf_counter()
        for query in queries:
            reference(query.video, query.text, tc)
        torch_seconds = time.perf_counter() - begin
        result["precisions"][precision] = {
            "lava_queries_per_s": report.queries_per_s,
            "lava_compile_and_start_s": report.compile_s,
            "lava_processes": report.num_processes,
            "lava_batch": report.batch,
            "lava_steps_per_s": report.queries_per_s * tc,
            "torch_reference": "integer (int64)" if precision == "fixed" else "SpikingVTG float64",
            "torch_queries_per_s": len(queries) / torch_seconds,
            "lava_slowdown": (len(queries) / torch_seconds) / report.queries_per_s,
            "metrics": score_predictions(report.predictions, truths, dataset.config.clip_len),
        }
        print(to_json({precision: result["precisions"][precision]}), file=sys.stderr)
    if {"fixed", "float"} <= result["precisions"].keys():
        fixed, real = result["precisions"]["fixed"]["metrics"], result["precisions"]["float"]["metrics"]
        result["fixed_minus_float"] = {name: fixed[name] - real[name] for name in fixed}
    # whole or not at all: benchmarks/lava_simulation.py points --out at the file the summary reads
    atomic_write_text(args.out, to_json(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:  # a bundle or dataset that cannot be read: one line and exit status 2, as vtg
        print(f"lava_vs_torch: error: {error}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
