"""``vtg-export``: write a trained model for a deployment target.

    vtg-export --target lava --checkpoint C --out BUNDLE [--tc N] [--check loihi2]
    vtg-export --target onnx --integer --checkpoint C --out model.onnx [--tc N] [--max-clips N]
    vtg-export --target nir --checkpoint C --out FOLDER [--tc N] [--max-clips N]

Each target lives in its own module (``TARGETS``) defining ``export(model, checkpoint, args) -> Path``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from vtg.errors import UserError
from vtg.json_file import to_json

# target name -> module defining export(model, checkpoint, args)
TARGETS: dict[str, str] = {
    "lava": "export.lava_target",
    "onnx": "export.onnx_target",
    "nir": "export.nir_target",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, choices=sorted(TARGETS), help="what to export for")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint written by vtg train")
    parser.add_argument("--out", type=Path, required=True, help="the folder (lava, nir) or file (onnx) to write")
    parser.add_argument("--tc", type=int, help="timesteps to simulate (default: the model's inference Tc)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (target, written path)")
    parser.add_argument(
        "--check",
        choices=("loihi2",),
        help="after a lava export, check the bundle against Loihi 2's limits (as vtg deploy check; exit 2 if broken)",
    )
    parser.add_argument(
        "--integer",
        action="store_true",
        help="onnx only: the integer model of a 1-bit NF checkpoint (int8 weights, checked exactly against "
        "the integer reference)",
    )
    parser.add_argument(
        "--max-clips", type=int, help="longest video (clips) the bundle accepts (default: the training length, or 256)"
    )


def run(args: argparse.Namespace) -> int:
    from vtg.atomic import check_output
    from vtg.checkpoint import load_model

    if not args.checkpoint.is_file():
        raise UserError(f"{args.checkpoint}: checkpoint not found")
    if args.check is not None and args.target != "lava":
        raise UserError(f"option --check: checks a lava bundle; --target is '{args.target}'")
    if getattr(args, "integer", False) and args.target != "onnx":
        raise UserError(f"option --integer: exports an integer onnx graph; --target is '{args.target}'")
    check_output(args.out, "file" if args.target == "onnx" else "folder")
    if args.max_clips is not None and args.max_clips < 1:
        raise UserError(f"option --max-clips: expected at least 1, got {args.max_clips}")
    try:
        target = importlib.import_module(TARGETS[args.target])
    except ModuleNotFoundError as error:
        if error.name != TARGETS[args.target]:
            raise
        raise UserError(f"option --target: '{args.target}' is not available in this installation") from None
    model, checkpoint = load_model(args.checkpoint)
    written = target.export(model, checkpoint, args)
    summary = {"target": args.target, "checkpoint": str(args.checkpoint), "out": str(written)}
    if args.check == "loihi2":  # the bundle stays written: the report says what does not fit
        from export.loihi2 import DEFAULT_MAX_TEXT, default_report_path, run_check

        if not args.json:
            print(f"wrote {written}")
        return run_check(args.out, default_report_path(args.out), DEFAULT_MAX_TEXT, args.json, summary)
    print(to_json(summary) if args.json else f"wrote {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from vtg.cli import main_single

    return main_single("vtg-export", "export.command", "Export a trained model for Lava, ONNX or NIR.", argv)


if __name__ == "__main__":
    sys.exit(main())
