"""``vtg deploy check``: will an exported Lava bundle fit on Loihi 2 (export/loihi2.py)?

::

    vtg deploy check --bundle BUNDLE [--max-text N] [--out FILE.json] [--json]

Prints, per population, neurons, fan-in, synapses, state and message bits, memory and neuro-cores; the
operations left off the neuro-cores; the totals and the chips needed. Writes the same as JSON (default
``BUNDLE.loihi2.json`` beside the bundle folder). A broken limit ends in one line naming the population
and the limit, exit status 2; a population whose worst-case current is beyond the 24-bit state is a
warning line (export/loihi2.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from export.loihi2 import DEFAULT_MAX_TEXT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-action ``check``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = actions.add_parser("check", help="resources and number formats of a bundle against Loihi 2's limits")
    c.add_argument("--bundle", type=Path, required=True, help="a folder written by vtg-export --target lava")
    c.add_argument(
        "--max-text",
        type=int,
        default=DEFAULT_MAX_TEXT,
        help=f"longest query (tokens) the chip must hold (default {DEFAULT_MAX_TEXT})",
    )
    c.add_argument("--out", type=Path, help="the JSON report (default: BUNDLE.loihi2.json beside the bundle)")
    c.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from export.loihi2 import default_report_path, run_check
    from vtg.atomic import check_output

    out = check_output(args.out if args.out is not None else default_report_path(args.bundle), "file")
    return run_check(args.bundle, out, args.max_text, args.json)
