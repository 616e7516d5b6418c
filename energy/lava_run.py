"""A Lava simulation's output folder (``vtg simulate``) read as activity records.

``vtg simulate --bundle B --out DIR`` writes ``DIR/activity.json`` in the activity JSON form
(``vtg-activity/1``, :mod:`energy.activity`): one record per simulated query, with its real video and
text token counts and, per component of the PyTorch model (docs/ARCHITECTURE.md), its spikes per
step, neurons and fan-out (``layer{i}.k`` and ``.v``: that query's real length), plus the model's
float shape and the price of a spike. The records are read as they stand: nothing is reconstructed.
"""

from __future__ import annotations

from pathlib import Path

from energy.activity import ActivityRecord, load_activity_json
from energy.float_work import FloatShape, shape_of_spiking_model
from energy.measured import snn_op_of
from vtg.errors import UserError
from vtg.json_file import read_json_object


def load_simulation(
    folder: str | Path, bundle: str | Path | None = None
) -> tuple[list[ActivityRecord], FloatShape, str]:
    """The records (one per query), model shape and spike price (int_acc for 1-bit NF) of a
    ``vtg simulate`` output folder.

    ``bundle``, when given, must be the model the records describe: its manifest's shape and spike
    price are checked against the file's.
    """
    path = Path(folder) / "activity.json"
    if not path.is_file():
        raise UserError(f"{path}: not found (is {path.parent} a folder written by vtg simulate?)")
    data = load_activity_json(path)
    shape, snn_op = FloatShape.from_mapping(data["model"], str(path)), data["snn_op"]
    if bundle is not None:
        manifest_path = Path(bundle) / "manifest.json"
        manifest = read_json_object(manifest_path, "not found (is it a bundle written by vtg-export --target lava?)")
        arch = manifest.get("architecture")
        try:
            theirs = shape_of_spiking_model(arch, arch), snn_op_of(arch["variant"])
        except (TypeError, KeyError, ValueError):
            raise UserError(f"{manifest_path}: field 'architecture': not a SpikingVTG architecture") from None
        if theirs != (shape, snn_op):
            raise UserError(
                f"{path}: simulated a model of shape {shape} priced {snn_op}; the bundle {bundle} is "
                f"{theirs[0]} priced {theirs[1]}"
            )
    return data["records"], shape, snn_op
