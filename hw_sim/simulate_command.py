"""``vtg simulate``: run an exported bundle in the Loihi-style Lava CPU simulation.

    vtg simulate --bundle B --data DIR --split val [--limit N] [--tc N] [--precision fixed|float]
                 [--compare-torch] [--out DIR] [--deadline SECONDS] [--json]

Writes ``predictions.jsonl`` (official format), ``activity.json`` (``vtg-activity/1``, energy/activity.py:
one record per query of spike counts per component and timestep, with neurons and fan-outs, as the
PyTorch model's, docs/ARCHITECTURE.md) and ``metrics.json`` into ``--out`` (default:
BUNDLE/simulation_<split>); ``vtg energy measure --simulation`` prices it as it stands.
``--compare-torch`` also runs the PyTorch reference of the same precision on the same queries and
reports ``spike_mismatches`` and the largest output differences (hw_sim/simulation.py); where they
disagree (a spike, or an output beyond :data:`~hw_sim.simulation.FLOAT_TOLERANCE`, 0 in fixed point) the
command says so on stderr and exits with status 1, the files written all the same. In floating point a
spike sitting on its threshold can flip when sums run in another order (rare; none in the tests or the
demo's runs): it is reported as a disagreement too, for a person to look at.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from vtg.errors import UserError
from vtg.json_file import json_safe, to_json

MAX_DEADLINE_S = 1e6  # about 12 days: "no limit" in practice, and within what the alarm timer accepts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", type=Path, required=True, help="a folder written by vtg-export --target lava")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (dataset.yaml)")
    parser.add_argument("--split", default="val", help="split of dataset.yaml to simulate (default: val)")
    parser.add_argument("--limit", type=int, help="simulate only the first N queries")
    parser.add_argument("--tc", type=int, help="timesteps per query (default: the bundle's)")
    parser.add_argument(
        "--precision", choices=("fixed", "float"), help="fixed_pt or floating_pt models (default: fixed when present)"
    )
    parser.add_argument("--compare-torch", action="store_true", help="check against the PyTorch reference")
    parser.add_argument("--out", type=Path, help="folder for predictions, activity and metrics")
    parser.add_argument(
        "--deadline",
        type=float,
        default=300.0,
        help="seconds one batch of queries (the first: with compiling and starting) may take before Lava is stopped",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=16,
        help="queries simulated side by side in one Lava run of Tc steps (default: 16); more spreads each "
        "step's handshake over more queries, at the cost of memory",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from export.bundle import SIMULATION_PREFIX, read_bundle
    from vtg.atomic import atomic_folder, atomic_write_text, check_output

    # the output is checked before the simulation (and before Lava is imported), not found unwritable after it
    out = check_output(args.out if args.out is not None else args.bundle / f"{SIMULATION_PREFIX}{args.split}", "folder")

    from hw_sim.simulation import FLOAT_TOLERANCE, load_queries, simulate_split
    from vtg.data.annotations import annotation_to_record
    from vtg.evaluation import score_predictions

    bundle = read_bundle(args.bundle)
    precision = args.precision or ("fixed" if "fixed" in bundle.precisions else "float")
    if precision not in bundle.precisions:
        raise UserError(f"option --precision: the bundle {args.bundle} has no {precision!r} weights")
    tc = args.tc if args.tc is not None else bundle.manifest["tc"]
    if tc < 1:
        raise UserError(f"option --tc: expected at least 1, got {tc}")
    if not 0 < args.deadline <= MAX_DEADLINE_S:  # NaN and inf too: the alarm timer takes finite seconds
        raise UserError(
            f"option --deadline: expected a number of seconds above 0 and up to {MAX_DEADLINE_S:g}, got {args.deadline}"
        )
    if args.batch < 1:
        raise UserError(f"option --batch: expected at least 1, got {args.batch}")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"option --limit: expected at least 1, got {args.limit}")
    dataset, queries = load_queries(args.data, args.split, args.limit, bundle)
    report = simulate_split(
        bundle,
        queries,
        precision,
        tc,
        compare=args.compare_torch,
        progress=True,
        deadline_s=args.deadline,
        batch=args.batch,
    )

    truths = [annotation_to_record(a) for a in dataset.annotations]
    labelled = all(a.windows for a in dataset.annotations)
    clip_len = dataset.config.clip_len
    metrics = score_predictions(report.predictions, truths, clip_len) if labelled else None
    summary = {
        "bundle": str(args.bundle),
        "split": args.split,
        "precision": precision,
        "tc": tc,
        "queries": report.queries,
        "queries_per_s": report.queries_per_s,
        "compile_s": report.compile_s,
        "lava_processes": report.num_processes,
        "batch": report.batch,
        "spike_mismatches": report.spike_mismatches,
        "metrics": metrics,
    }
    if args.compare_torch:
        reference_metrics = score_predictions(report.reference_predictions, truths, clip_len) if labelled else None
        # fixed point: every spike and output equal; floating point: every spike, outputs within FLOAT_TOLERANCE
        tolerance = 0.0 if precision == "fixed" else FLOAT_TOLERANCE
        agree = report.spike_mismatches == 0 and max(report.output_differences.values(), default=0.0) <= tolerance
        summary.update(
            agrees_with_torch=agree,
            spikes_compared=report.spikes_compared,
            output_differences=report.output_differences,
            reference_metrics=reference_metrics,
            metrics_equal=json_safe(reference_metrics) == json_safe(metrics),  # NaN (no such windows) matches NaN
            metrics_max_difference=_max_difference(metrics, reference_metrics) if labelled else None,
            reference_queries_per_s=report.queries / report.reference_seconds if report.reference_seconds else None,
        )
    with atomic_folder(out) as folder:  # the three files together, or none
        atomic_write_text(folder / "predictions.jsonl", "".join(to_json(p) + "\n" for p in report.predictions))
        write_activity(folder / "activity.json", report.activity, bundle.architecture)
        atomic_write_text(folder / "metrics.json", to_json(summary, indent=1))
    summary["out"] = str(out)
    # a disagreement is a failed check (exit status 1, for scripts and CI), not a mistake of the user's (2)
    status = 1 if args.compare_torch and not summary["agrees_with_torch"] else 0
    if status:
        print(
            f"vtg simulate: Lava and the PyTorch reference disagree ({report.spike_mismatches} spike mismatches, "
            f"largest output difference {max(report.output_differences.values(), default=0.0):.3g}); see {out}",
            file=sys.stderr,
        )
    if args.json:
        print(to_json(summary))
        return status
    print(f"simulated {report.queries} queries in Lava ({precision}, Tc={tc}): {report.queries_per_s:.2f} queries/s")
    print(f"  {report.num_processes} Lava processes, compiled and started in {report.compile_s:.1f} s; wrote {out}")
    if args.compare_torch:
        print(f"  spike mismatches against PyTorch: {report.spike_mismatches} of {report.spikes_compared}")
        for name, value in report.output_differences.items():
            print(f"  max |difference| {name:18s} {value:.3g}")
    for name, value in (metrics or {}).items():
        print(f"  {name:24s} {value:8.2f}")
    return status


def write_activity(path: Path, activity: list, architecture: dict) -> None:
    """Each query's activity (hw_sim/activity.py) as one ``vtg-activity/1`` record, with the model's
    float shape and spike price (energy/activity.py, the format ``vtg energy`` reads)."""
    import dataclasses

    from energy.activity import record_from_activity, write_activity_json
    from energy.float_work import shape_of_spiking_model
    from energy.measured import snn_op_of

    records = [
        record_from_activity(
            query.components, [query.video_tokens], [query.text_tokens], f"{path}: query {i}", query.decoder_read_steps
        )
        for i, query in enumerate(activity)
    ]
    shape = shape_of_spiking_model(architecture, architecture)  # the architecture holds the feature sizes too
    write_activity_json(path, records, snn_op_of(architecture["variant"]), dataclasses.asdict(shape))


def _max_difference(metrics: dict[str, float], reference: dict[str, float]) -> float:
    """Largest |difference| over the metrics both runs have a number for."""
    both = [k for k in metrics if math.isfinite(metrics[k]) and math.isfinite(reference[k])]
    gaps = [abs(metrics[k] - reference[k]) for k in both]
    return max(gaps, default=0.0)
