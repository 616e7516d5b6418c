"""``vtg energy``: 45 nm energy estimates and energy-accuracy trade-off reports.

::

    vtg energy formula --seq-len 200 --hidden 1024 --layers 4 --tc 10 --ifr in=0.40,k=0.18,v=0.19,attn=0.03,int=0.09
                       [--snn-op int_acc|fp_acc] [--k-term paper|qk] [--table paper|horowitz|FILE.yaml] [--json]
    vtg energy table [--table paper|horowitz|FILE.yaml] [--json]
    vtg energy measure --activity FILE.json | --simulation DIR [--bundle B] [--table ...] [--json]
    vtg energy report --checkpoint C [--teacher T] --data DIR [--split val] [--tc 1,2,4,8,16] [--out DIR]
                      [--limit N] [--batch-size B] [--table ...] [--json]

``formula`` is the paper's section 5.1 analysis (:mod:`energy.analytic`); ``measure`` prices the spike
counts of an activity JSON (:mod:`energy.activity`) or of a ``vtg simulate`` folder (:mod:`energy.lava_run`);
``report`` runs a SpikingVTG checkpoint at each Tc, scores it, measures its energy and writes
``report.json``, ``report.md`` and three PNG plots, with the teacher (or, without one, a non-spiking
encoder of the same depth and width) as the reference. Each checkpoint is run on the split as
:func:`vtg.evaluation.open_checkpoint` opens it for that checkpoint (its ``max_video_len`` and
``max_query_len``) and scored by it, so the metrics at a Tc are ``vtg predict --tc``'s.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import operator
from pathlib import Path
from typing import Any

from energy.analytic import K_TERMS, SNN_OPS, formula, parse_ifr, spiking_accumulations
from energy.ops import load_table
from vtg.errors import UserError
from vtg.json_file import to_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-actions ``formula``, ``table``, ``measure`` and ``report``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--table", default="paper", help="op energies: paper, horowitz or a YAML file (default paper)")
        sub.add_argument("--json", action="store_true", help="print one JSON object")

    f = actions.add_parser("formula", help="section 5.1's E_A, E_S and E_A / E_S for given sizes and rates")
    f.add_argument("--seq-len", type=int, required=True, help="tokens L = Lv + Lq")
    f.add_argument("--hidden", type=int, required=True, help="hidden size D")
    f.add_argument("--layers", type=int, default=4, help="encoder layers (default 4, UniVTG's)")
    f.add_argument("--tc", type=int, default=10, help="timesteps (default 10, the paper's Table 5)")
    f.add_argument("--ifr", required=True, help="rates in=..,k=..,v=..,attn=..,int=.. each in [0, 1]")
    f.add_argument("--snn-op", choices=SNN_OPS, default="int_acc", help="price of a spike (default int_acc: 1-bit NF)")
    f.add_argument("--k-term", choices=K_TERMS, default="paper", help="K's fan-out: paper (D) or qk (L, as QK^T)")
    common(f)

    t = actions.add_parser("table", help="print an op-energy table")
    common(t)

    m = actions.add_parser("measure", help="energy of measured spike counts: an activity JSON or a Lava run")
    source = m.add_mutually_exclusive_group(required=True)
    source.add_argument("--activity", type=Path, help="activity JSON (format vtg-activity/1)")
    source.add_argument("--simulation", type=Path, help="output folder of vtg simulate (activity.json, metrics.json)")
    m.add_argument("--bundle", type=Path, help="with --simulation: its Lava bundle, checked against its model")
    common(m)

    r = actions.add_parser("report", help="energy-accuracy trade-off of a checkpoint over Tc")
    r.add_argument("--checkpoint", type=Path, required=True, help="SpikingVTG checkpoint")
    r.add_argument("--teacher", type=Path, help="non-spiking teacher checkpoint: the reference (metrics, FP-MAC)")
    r.add_argument(
        "--beside",
        type=Path,
        action="append",
        default=[],
        metavar="CHECKPOINT",
        help="another non-spiking model shown beside the reference (repeatable; e.g. SDST beside the teacher)",
    )
    r.add_argument("--data", type=Path, required=True, help="dataset folder (with dataset.yaml)")
    r.add_argument("--split", default="val", help="split to score (default val)")
    r.add_argument("--tc", default="1,2,4,8,16", help="timesteps to run, comma-separated (default 1,2,4,8,16)")
    r.add_argument("--out", type=Path, default=Path("runs/energy"), help="report folder (default runs/energy)")
    r.add_argument("--limit", type=int, help="use only the first N queries of the split")
    r.add_argument("--batch-size", type=int, default=8, help="queries per batch (default 8)")
    common(r)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action."""
    actions = {"formula": run_formula, "table": run_table, "measure": run_measure, "report": run_report}
    return actions[args.action](args)


def _print(summary: dict[str, Any], as_json: bool, lines: list[str]) -> int:

    print(to_json(summary) if as_json else "\n".join(lines))
    return 0


def run_formula(args: argparse.Namespace) -> int:
    table = load_table(args.table)
    result = formula(
        args.seq_len, args.hidden, args.layers, args.tc, parse_ifr(args.ifr), table, args.snn_op, args.k_term
    )
    efficiency = result["efficiency"]
    lines = [
        f"op table: {table.name} (FP-MAC {table.ops_pj['fp_mac']} pJ, {args.snn_op} {table.ops_pj[args.snn_op]} pJ)",
        f"non-spiking: {result['ann_mj_per_layer']:.4g} mJ per layer, {result['ann_mj']:.4g} mJ for {args.layers}",
        f"spiking: {result['snn_mj_per_step_per_layer']:.4g} mJ per layer and step, "
        f"{result['snn_mj_per_layer']:.4g} mJ per layer at Tc={args.tc}, {result['snn_mj']:.4g} mJ for {args.layers}",
        f"efficiency E_A / E_S: {'-' if efficiency is None else f'{efficiency:.4g}'}",
    ]
    return _print(result, args.json, lines)


def run_table(args: argparse.Namespace) -> int:
    table = load_table(args.table)
    summary = {"name": table.name, "source": table.source, "ops_pj": table.ops_pj}
    lines = [f"{table.name}: {table.source}"] + [f"  {op:<10} {pj:g} pJ" for op, pj in table.ops_pj.items()]
    return _print(summary, args.json, lines)


def run_measure(args: argparse.Namespace) -> int:
    from energy.activity import load_activity_json
    from energy.float_work import FloatShape
    from energy.lava_run import load_simulation
    from energy.measured import encoder_terms, measure
    from energy.neuromorphic import ESTIMATES, estimates
    from energy.report import ESTIMATE_NAMES

    table = load_table(args.table)
    if args.simulation is not None:
        records, shape, snn_op = load_simulation(args.simulation, args.bundle)  # one record per query
    else:
        if args.bundle is not None:
            raise UserError("option '--bundle': goes with --simulation (an activity JSON carries its model)")
        data = load_activity_json(args.activity)
        records, snn_op = data["records"], data["snn_op"]
        shape = FloatShape.from_mapping(data["model"], str(args.activity))
    total = functools.reduce(operator.add, (measure(record, shape, table, snn_op) for record in records))
    # the structural formula, fed the measured rates, neurons and fan-outs (it must equal encoder_mj)
    formula_mj = sum(
        record.tc * table.mj(snn_op, spiking_accumulations(terms))
        for record in records
        for terms in encoder_terms(record).values()
    )
    summary = {"table": table.name, "snn_op": snn_op, **total.per_query()}
    summary["encoder_formula_mj"] = formula_mj / total.queries
    beside = estimates(records, shape, table, snn_op)  # with memory, beside the arithmetic-only total
    summary["estimates_mj"] = {name: beside[name]["total_mj"] for name in ESTIMATES}
    lines = [
        f"{total.queries} queries, op table {table.name}, spikes priced as {snn_op}; mJ per query:",
        f"  total {summary['total_mj']:.4g} = encoder {summary['encoder_mj']:.4g} + decoder "
        f"{summary['decoder_mj']:.4g} + floating-point {summary['float_mj']:.4g}",
        f"  encoder by the structural formula from the measured rates: {summary['encoder_formula_mj']:.4g}",
        "  beside it, with memory: "
        + ", ".join(f"{ESTIMATE_NAMES[name]} {mj:.4g}" for name, mj in summary["estimates_mj"].items()),
    ] + [f"  {name:<24} {mj:.4g}" for name, mj in summary["components_mj"].items()]
    return _print(summary, args.json, lines)


def run_report(args: argparse.Namespace) -> int:
    from energy.float_work import shape_of_spiking_model
    from energy.measured import snn_op_of
    from energy.neuromorphic import teacher_mj
    from energy.report import build_report, write_report
    from energy.sweep import ann_reference_macs, parse_tcs, sweep
    from energy.teacher import run_teacher
    from vtg.atomic import check_output
    from vtg.evaluation import open_checkpoint

    check_output(args.out, "folder")
    table = load_table(args.table)
    tcs = parse_tcs(args.tc)
    for name, value in (("--limit", args.limit), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise UserError(f"option '{name}': must be at least 1, got {value}")
    # every checkpoint on the split as vtg predict opens it for that checkpoint (its max_video_len, ...)
    opened = open_checkpoint(args.checkpoint, args.data, args.split, limit=args.limit)
    if opened.model_name != "spikingvtg":
        raise UserError(f"{args.checkpoint}: a {opened.model_name} checkpoint; --checkpoint takes SpikingVTG")
    model, dims, loader = opened.model, opened.dataset.dims, opened.loader(args.batch_size)
    config = model.config
    architecture = {**dataclasses.asdict(config), "host_input_layers": config.host_input_layers}
    shape, snn_op = shape_of_spiking_model(architecture, dims), snn_op_of(config.variant)
    ann_macs = ann_reference_macs(loader, shape.hidden, shape.layers, config.ffn_dim)
    ann_encoder = table.mj("fp_mac", ann_macs)

    # the non-spiking models (the teacher as the reference, others beside it), all checked before any runs
    non_spiking = [("teacher", path) for path in [args.teacher] if path is not None]
    non_spiking += [("beside", path) for path in args.beside]
    loaded = []
    for kind, path in non_spiking:
        other = open_checkpoint(path, args.data, args.split, limit=args.limit)
        if other.model_name == "spikingvtg":
            raise UserError(f"option --{kind}: {path} is a SpikingVTG checkpoint; it takes a non-spiking model")
        loaded.append((kind, path, other))
    measured = []
    for kind, path, other in loaded:
        predictions, energy = run_teacher(other.model, other.loader(args.batch_size), table)
        metrics = other.score(predictions)
        measured.append({"kind": kind, "name": other.model_name, "checkpoint": str(path), "metrics": metrics, **energy})
    if args.teacher is not None:
        reference = measured[0]
    else:
        reference = {"kind": "ann_formula", "name": "non-spiking encoder", "metrics": None, "total_mj": ann_encoder}
        reference["estimates_mj"] = teacher_mj(ann_macs, table)
    beside = [entry for entry in measured if entry["kind"] == "beside"]

    points = sweep(model, loader, tcs, shape, table, snn_op, opened.score)
    student = {"checkpoint": str(args.checkpoint), "variant": config.variant, "shape": dataclasses.asdict(shape)}
    data = {"root": str(args.data), "split": args.split, "queries": opened.queries}
    report = build_report(points, reference, ann_encoder, table, snn_op, student, data, beside)
    paths = write_report(report, args.out)
    summary = {
        "out": str(args.out),
        "files": {kind: str(path) for kind, path in paths.items()},
        "reference": {k: reference[k] for k in ("kind", "name", "total_mj", "metrics")},
        "beside": [{k: other[k] for k in ("name", "total_mj", "metrics")} for other in beside],
        "points": [
            {"tc": p["tc"], "total_mj": p["energy"]["total_mj"], "efficiency": p["efficiency"], "metrics": p["metrics"]}
            for p in report["points"]
        ],
    }
    lines = [f"wrote {paths['markdown']}, {paths['json'].name} and 3 plots"] + [
        f"  Tc={p['tc']:<3} {p['total_mj']:.4g} mJ/query  E_f={p['efficiency'] or 0:.4g}  "
        + ", ".join(f"{m}={p['metrics'][m]:.4g}" for m in report["metrics_plotted"])
        for p in summary["points"]
    ]
    return _print(summary, args.json, lines)
