"""``vtg teacher``: bring a released teacher into the toolkit's checkpoint format.

::

    vtg teacher import --from univtg --checkpoint model_best.ckpt --out teacher.ckpt [--json]

reads a released UniVTG checkpoint (showlab/UniVTG; :mod:`sdst_teacher.univtg.official`, nothing in the
file is run), rebuilds the released architecture (``configs/univtg_official.yaml`` with the sizes of its
weights) and writes a checkpoint of the ``univtg`` model that ``vtg predict``, ``vtg distill --teacher``,
``vtg energy report --teacher`` and ``vtg info`` read like a trained one. It prints the account of every
key of the released file (what it became, or why it was left out); ``--json`` prints it as one object.
An unknown, missing or mis-shaped key is refused in one line naming it (exit status 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vtg.errors import UserError
from vtg.json_file import to_json

SOURCES = ("univtg",)
IMPORT_KEY = "import"  # checkpoint["vtg"]["import"]: where the weights came from and the key account


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-action ``import``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="convert a released teacher checkpoint into a vtg checkpoint")
    imp.add_argument("--from", dest="source", required=True, help=f"released model: {', '.join(SOURCES)}")
    imp.add_argument("--checkpoint", type=Path, required=True, help="the released file (e.g. model_best.ckpt)")
    imp.add_argument("--out", type=Path, required=True, help="vtg checkpoint to write (e.g. teacher.ckpt)")
    imp.add_argument("--json", action="store_true", help="print one JSON object (config, dims, key account)")


def run(args: argparse.Namespace) -> int:
    from sdst_teacher.univtg.official import import_released
    from vtg.atomic import check_output
    from vtg.checkpoint import METADATA_KEY, MODEL_PREFIX, atomic_save, checkpoint_metadata
    from vtg.digest import sha256

    if args.source not in SOURCES:
        raise UserError(f"option --from: unknown released model {args.source!r} (choose from {', '.join(SOURCES)})")
    out = check_output(args.out, "file")
    released = import_released(args.checkpoint)
    metadata = checkpoint_metadata("univtg", released["config"], released["dims"], {}, {})
    metadata[IMPORT_KEY] = {
        "from": args.source,
        "checkpoint": str(args.checkpoint),
        "sha256": sha256(args.checkpoint),
        "keys": released["account"],
        "entries_left_out": released["dropped_entries"],
        "options_read": released["options_read"],
    }
    state = {MODEL_PREFIX + key: value for key, value in released["state_dict"].items()}
    atomic_save({"state_dict": state, METADATA_KEY: metadata}, out)

    summary = {
        "out": str(out),
        "model": "univtg",
        "config": released["config"],
        "dims": released["dims"],
        "keys": released["account"],
        "entries_left_out": released["dropped_entries"],
        "options_read": released["options_read"],
    }
    if args.json:
        print(to_json(summary))
        return 0
    width = max(len(key) for key in released["account"])
    for key, fate in released["account"].items():
        print(f"{key:<{width}}  ->  {fate}")
    if released["dropped_entries"]:
        print(f"entries left out (training state): {', '.join(released['dropped_entries'])}")
    used = len([fate for fate in released["account"].values() if not fate.startswith("left out")])
    dims = ", ".join(f"{name}={value}" for name, value in released["dims"].items())
    print(f"wrote {out}: univtg, {used} of {len(released['account'])} released keys mapped; dims {dims}")
    return 0
