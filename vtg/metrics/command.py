"""``vtg eval``: score a predictions file against ground truth with the official metrics.

    vtg eval --submission PRED.jsonl --gt GT.jsonl [--dataset qvhighlights|charades|tacos|youtube]
             [--json] [--out FILE] [--window-tolerance SECONDS] [--clip-len SECONDS]

By default a table of the headline ("brief") metrics is printed; ``--json`` prints the whole result
as one JSON object keyed by the official names, and ``--out`` writes that object to a file. A metric
over no queries (e.g. an empty length split) is NaN, written as ``null`` in JSON.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from vtg.atomic import atomic_write_text, check_output
from vtg.errors import UserError
from vtg.json_file import json_safe, to_json
from vtg.metrics import CLIP_LEN_S, DATASETS, WINDOW_TOLERANCE_S, evaluate, load_jsonl

TITLES = {
    "qvhighlights": "QVHighlights",
    "charades": "Charades-STA",
    "tacos": "TACoS",
    "youtube": "YouTube Highlights",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # not argparse-required, so that a config file may give them
    parser.add_argument(
        "--submission", type=Path, metavar="PRED.jsonl", help="predictions, JSON lines (official format); required"
    )
    parser.add_argument(
        "--gt", type=Path, metavar="GT.jsonl", help="ground truth, JSON lines (QVHighlights format); required"
    )
    parser.add_argument("--dataset", choices=DATASETS, default="qvhighlights", help="which metrics to compute")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the JSON result to this file")
    parser.add_argument(
        "--window-tolerance",
        type=float,
        default=WINDOW_TOLERANCE_S,
        metavar="SECONDS",
        help="how far a window may end after its video (default %(default)s s)",
    )
    parser.add_argument(
        "--clip-len",
        type=float,
        default=CLIP_LEN_S,
        metavar="SECONDS",
        help="clip length of the saliency scores, QVHighlights HD only (default %(default)s s, the official)",
    )


def format_table(title: str, brief: dict[str, float | None]) -> str:
    """The brief metrics as two aligned columns under ``title`` (``None``, a metric over no queries, is n/a)."""
    width = max(len(name) for name in brief)
    rows = [f"{name:<{width}}  {'n/a' if value is None else f'{value:.2f}':>6}" for name, value in brief.items()]
    return "\n".join([title, "-" * len(title), *rows])


def run(args: argparse.Namespace) -> int:
    for name in ("submission", "gt"):
        if getattr(args, name) is None:
            raise UserError(f"field '{name}': required (give --{name} FILE or '{name}:' in the config)")
    if not math.isfinite(args.window_tolerance) or args.window_tolerance < 0:
        raise UserError(f"field 'window_tolerance': expected a number >= 0, got {args.window_tolerance}")
    if not math.isfinite(args.clip_len) or args.clip_len <= 0:
        raise UserError(f"field 'clip_len': expected a number > 0, got {args.clip_len}")
    if args.out is not None:
        check_output(args.out, "file", inputs={"--submission": args.submission, "--gt": args.gt})
    submission, ground_truth = load_jsonl(args.submission), load_jsonl(args.gt)
    result = evaluate(
        args.dataset, submission, ground_truth, window_tolerance=args.window_tolerance, clip_len=args.clip_len
    )
    result = json_safe(result)  # a metric over no queries (NaN) is None: null in JSON, n/a in the table
    if args.out is not None:
        atomic_write_text(args.out, to_json(result, indent=2) + "\n")
    if args.json:
        print(to_json(result))
    else:
        title = f"{TITLES[args.dataset]}, {len(ground_truth)} queries: {args.submission.name}"
        print(format_table(title, result["brief"]))
    return 0
