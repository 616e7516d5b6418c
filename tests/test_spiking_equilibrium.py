"""``vtg equilibrium``: convergence of the simulation to the steady-state map, and the two readings."""

import json

import pytest
import torch
from checkpoint_support import save_checkpoint
from test_spiking_model import DIMS, TINY, tiny_batch

from spiking.equilibrium import read_at_steps, trace_batch
from spiking.equilibrium_command import first_below
from spiking.model import build
from vtg.cli import main

STUDENT = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": 4}


def test_read_at_steps():
    assert read_at_steps(32, 8) == [1, 2, 4, 8, 16, 32]
    assert read_at_steps(12, 6) == [1, 2, 4, 6, 8, 12]
    assert read_at_steps(4, 10) == [1, 2, 4]


def test_first_below_is_where_the_values_stay_below():
    assert first_below([0.3, 0.04, 0.06, 0.04, 0.01], 0.05) == 4  # dipped at 2, settled from 4
    assert first_below([0.01, 0.02], 0.05) == 1
    assert first_below([0.3, 0.2, 0.06], 0.05) is None


def test_residual_shrinks_as_the_simulation_converges():
    """A model without feedback and with rounding IF neurons: the simulated ASRs approach the map's."""
    torch.manual_seed(0)
    model = build({**TINY, "variant": "nf", "sfg": False, "leak": 1.0, "fire_ratio": 0.5}, DIMS).eval()
    batch = tiny_batch()
    (residual, rounding, change, norm), simulated, mapped = trace_batch(model, batch, 64, [1, 64])
    relative = (residual / norm).sqrt()  # (layers, 64)
    assert (relative[:, 63] < relative[:, 0]).all()
    assert (relative[:, 63] < 0.5 * relative[:, 3]).all()
    own = (rounding / norm).sqrt()  # the output neurons' remainder |u| / (Vth t), |u| <= Vth / 2 here
    assert (own[:, 63] < 0.5 * own[:, 3]).all()
    assert change[:, 0].eq(0).all() and (change[:, 63] < change[:, 1]).all()
    assert len(simulated[64]) == len(mapped[64]) == 2  # one prediction per query, both readings


def test_command_writes_json_plot_and_table(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny"]) == 0
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    save_checkpoint(tmp_path / "s.ckpt", "spikingvtg", STUDENT, dims)
    out = tmp_path / "eq"
    capsys.readouterr()
    args = ["equilibrium", "--checkpoint", str(tmp_path / "s.ckpt"), "--data", str(data), "--tc-max", "6"]
    assert main([*args, "--limit", "4", "--adjoint-iters", "3", "--adjoint-batches", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "R1@0.5 sim / map" in printed and "adjoint (gmres, 3 products)" in printed
    assert "residual below 5%: L0 " in printed and "rounding below 5%: L0 " in printed
    report = json.loads((out / "equilibrium.json").read_text())
    assert (out / "equilibrium.png").stat().st_size > 0
    assert report["queries"] == 4 and report["train_tc"] == 4 and len(report["layers"]) == 2
    assert all(len(layer["residual"]) == len(layer["rounding"]) == 6 for layer in report["layers"])
    assert all(layer["change"][0] is None for layer in report["layers"])
    assert sorted(report["metrics"], key=int) == ["1", "2", "4", "6"]
    assert set(report["metrics"]["4"]) == {"simulated", "steady_state"}
    assert len(report["adjoint"]["residuals"]) == 1 and report["adjoint"]["residuals"][0] >= 0


def test_a_bptt_student_on_one_query_gives_strict_json(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny"]) == 0
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    save_checkpoint(tmp_path / "s.ckpt", "spikingvtg", {**STUDENT, "grad": "bptt"}, dims)
    capsys.readouterr()
    args = ["equilibrium", "--checkpoint", str(tmp_path / "s.ckpt"), "--data", str(data), "--tc-max", "2"]
    assert main([*args, "--limit", "1", "--out", str(tmp_path / "eq"), "--json"]) == 0

    def refuse(constant):  # JSON has no NaN or infinity
        raise AssertionError(f"{constant} in the JSON")

    report = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert report == json.loads((tmp_path / "eq" / "equilibrium.json").read_text(), parse_constant=refuse)
    assert report["adjoint"]["residuals"] == [] and report["adjoint"]["none"] == "trained by BPTT"
    # one query leaves length buckets without windows: their mAP is null, not NaN
    assert None in report["metrics"]["1"]["simulated"].values()


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--tc-max", "0"], "option --tc-max"), (["--limit", "0"], "option --limit"), ([], "option --checkpoint")],
)
def test_bad_options_are_one_line(tmp_path, capsys, extra, message):
    data = tmp_path / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny"]) == 0
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    teacher = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2}
    save_checkpoint(tmp_path / "t.ckpt", "univtg", teacher, dims) if not extra else None
    save_checkpoint(tmp_path / "s.ckpt", "spikingvtg", STUDENT, dims)
    checkpoint = tmp_path / ("s.ckpt" if extra else "t.ckpt")
    capsys.readouterr()
    assert main(["equilibrium", "--checkpoint", str(checkpoint), "--data", str(data), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
