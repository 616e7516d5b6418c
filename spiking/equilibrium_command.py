"""``vtg equilibrium``: does a SpikingVTG checkpoint reach the steady state it was trained on, and by when?

    vtg equilibrium --checkpoint runs/student/best.ckpt --data DIR --split val --tc-max 32 --out runs/eq

Writes ``OUT/equilibrium.json`` and ``OUT/equilibrium.png`` (the paper's Fig. 3a, per-layer residual, the
output neurons' own rounding in it and step change over t, beside the metrics read from the simulation and
from the steady-state map) and prints
a table; ``--json`` prints the JSON instead. See :mod:`spiking.equilibrium` for the definitions. Use it
to choose Tc: past the Tc where the residual is small and the two readings agree, more steps buy nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from vtg.errors import UserError
from vtg.json_file import to_json

STUDENT = "spikingvtg"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="SpikingVTG checkpoint (vtg train / vtg distill); required")
    parser.add_argument("--data", type=Path, help="dataset folder (with dataset.yaml); required")
    parser.add_argument("--split", default="val", help="split of dataset.yaml (default val)")
    parser.add_argument("--tc-max", type=int, default=32, help="timesteps to simulate (default 32)")
    parser.add_argument("--limit", type=int, help="only the first N queries of the split")
    parser.add_argument("--batch-size", type=int, help="queries per batch (default: the training batch size)")
    parser.add_argument(
        "--adjoint-iters", type=int, default=30, help="GMRES products for the adjoint residual (default 30)"
    )
    parser.add_argument("--adjoint-batches", type=int, default=2, help="batches the adjoint is measured on")
    parser.add_argument("--out", type=Path, help="output folder (default: CHECKPOINT_DIR/equilibrium)")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")


def _check_options(args: argparse.Namespace) -> None:
    for option in ("checkpoint", "data"):
        if getattr(args, option) is None:
            raise UserError(f"option --{option}: required")
    for option, least in (("tc_max", 1), ("limit", 1), ("batch_size", 1), ("adjoint_iters", 0), ("adjoint_batches", 0)):
        value = getattr(args, option)
        if value is not None and value < least:
            raise UserError(f"option --{option.replace('_', '-')}: expected at least {least}, got {value}")


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from spiking.equilibrium import adjoint_residuals, read_at_steps, trace_batch
    from spiking.equilibrium_plot import plot_equilibrium
    from vtg.atomic import atomic_folder, check_output
    from vtg.evaluation import open_checkpoint

    _check_options(args)
    opened = open_checkpoint(args.checkpoint, args.data, args.split, limit=args.limit)
    model = opened.model
    if opened.model_name != STUDENT:
        raise UserError(
            f"option --checkpoint: {args.checkpoint} holds a '{opened.model_name}' model; "
            f"vtg equilibrium measures a {STUDENT} student"
        )
    out = check_output(args.out if args.out is not None else args.checkpoint.parent / "equilibrium", "folder")

    loader = opened.loader(args.batch_size)
    train_tc = model.config.tc
    read_at = read_at_steps(args.tc_max, train_tc)
    layers = len(model.layers)
    sums = [torch.zeros(layers, args.tc_max, dtype=torch.float64) for _ in range(4)]
    simulated = {t: [] for t in read_at}
    mapped = {t: [] for t in read_at}
    batches = []
    for batch in tqdm(loader, desc="vtg equilibrium", unit="batch", file=sys.stderr):
        traced, sim, eq = trace_batch(model, batch, args.tc_max, read_at)
        for total, part in zip(sums, traced):
            total += part
        for t in read_at:
            simulated[t] += sim[t]
            mapped[t] += eq[t]
        if len(batches) < args.adjoint_batches:
            batches.append(batch)
    residual, rounding, change, _ = (s / sums[3].clamp(min=1e-30) for s in sums)
    # a BPTT student has no adjoint, and one without SFG's feedback none to solve (the map ignores z: J = 0)
    solved = model.config.grad == "implicit" and model.config.sfg
    adjoint = {
        "solver": model.config.solver,
        "iters": args.adjoint_iters,
        "model_iters": model.config.solver_iters,
        "residuals": adjoint_residuals(model, batches, args.adjoint_iters) if args.adjoint_iters and solved else [],
    }
    if not solved:
        adjoint["none"] = "trained by BPTT" if model.config.grad != "implicit" else "no SFG feedback: J = 0"
    report = {
        "format": "vtg-equilibrium/2",
        "checkpoint": str(args.checkpoint),
        "split": args.split,
        "queries": opened.queries,
        "variant": model.config.variant,
        "train_tc": train_tc,
        "tc_max": args.tc_max,
        "layers": [
            {
                "residual": residual[i].sqrt().tolist(),
                "rounding": rounding[i].sqrt().tolist(),
                "change": [None] + change[i, 1:].sqrt().tolist(),
            }
            for i in range(layers)
        ],
        "metrics": {
            str(t): {
                "simulated": opened.score(simulated[t]),
                "steady_state": opened.score(mapped[t]),
            }
            for t in read_at
        },
        "adjoint": adjoint,
    }
    with atomic_folder(out) as folder:  # the JSON and the plot together, or neither
        (folder / "equilibrium.json").write_text(to_json(report, indent=1) + "\n")
        plot_equilibrium(report, folder / "equilibrium.png")
    if args.json:
        print(to_json(report))
        return 0
    print(format_table(report))
    print(f"wrote {out / 'equilibrium.json'} and {out / 'equilibrium.png'}")
    return 0


GOAL = 0.05  # a residual that small means the simulation has settled where the map says (issue 13's goal)


def first_below(values: list[float], level: float) -> int | None:
    """The first timestep (1-based) from which every value stays below ``level``; None if none does."""
    first = None
    for t, value in enumerate(values, start=1):
        if value >= level:
            first = None
        elif first is None:
            first = t
    return first


def format_table(report: dict) -> str:
    """The per-layer residual (and the neurons' own rounding in it) at the read-out steps and the two
    readings of the headline metrics."""
    lines = [f"{report['variant']} student, trained at Tc {report['train_tc']}, {report['queries']} queries"]
    header = "   t" + "".join(f"{'res L' + str(i) + ' (round)':>16}" for i in range(len(report["layers"])))
    lines.append(header + "   R1@0.5 sim / map   Hit1 sim / map")
    for t, both in report["metrics"].items():
        residuals = "".join(
            f"{layer['residual'][int(t) - 1]:8.3f} ({layer['rounding'][int(t) - 1]:.3f})" for layer in report["layers"]
        )
        sim, eq = both["simulated"], both["steady_state"]
        r1 = f"{sim['MR-full-R1@0.5']:6.1f} / {eq['MR-full-R1@0.5']:5.1f}"
        hit = f"{sim.get('HL-min-VeryGood-Hit1', math.nan):6.1f} / {eq.get('HL-min-VeryGood-Hit1', math.nan):5.1f}"
        lines.append(f"{int(t):4d}{residuals}     {r1}    {hit}")
    for name in ("residual", "rounding"):
        firsts = [first_below(layer[name], GOAL) for layer in report["layers"]]
        lines.append(
            f"{name} below {GOAL:.0%}: "
            + ", ".join(
                f"L{i} {'from t = ' + str(t) if t else 'not by t = ' + str(report['tc_max'])}"
                for i, t in enumerate(firsts)
            )
        )
    adjoint = report["adjoint"]["residuals"]
    if adjoint:
        lines.append(
            f"adjoint ({report['adjoint']['solver']}, {report['adjoint']['iters']} products): relative residual "
            + ", ".join(f"{r:.3g}" for r in adjoint)
        )
    if "none" in report["adjoint"]:
        lines.append(f"adjoint: none ({report['adjoint']['none']})")
    return "\n".join(lines)
