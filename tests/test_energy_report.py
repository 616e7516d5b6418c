"""Tc sweeps, the report writer and plots, and vtg energy report end to end on a tiny SpikingVTG."""

from __future__ import annotations

import dataclasses
import json

import matplotlib.image
import numpy as np
import pytest
import torch
from checkpoint_support import save_checkpoint
from torch import nn

from energy.activity import Component, make_record, record_from_outputs
from energy.analytic import ann_layer_macs, spiking_accumulations
from energy.float_work import FloatShape
from energy.measured import encoder_terms, measure
from energy.ops import PAPER
from energy.report import build_report, markdown, write_report
from energy.sweep import TcPoint, ann_reference_macs, parse_tcs, run_at_tc, sweep
from vtg.cli import main
from vtg.errors import UserError
from vtg.json_file import json_safe

SHAPE = FloatShape(hidden=8, video_dim=6, text_dim=5, layers=1, heads=2, softmax=False, layernorm=False)


def mask_batch(video: list[int], text: list[int]) -> dict:
    lv, lq = max(video), max(text)
    return {
        "video_mask": torch.tensor([[i < v for i in range(lv)] for v in video]),
        "text_mask": torch.tensor([[i < q for i in range(lq)] for q in text]),
        "meta": [{"qid": f"{v}-{q}"} for v, q in zip(video, text)],
    }


class ConstantActivityModel(nn.Module):
    """A stand-in spiking model: the same spikes at every step; its 'accuracy' grows with Tc."""

    def forward(self, batch, tc: int):
        spikes = torch.full((tc,), 10.0)
        return {
            "activity": {
                "layer0.k": {"spikes": spikes, "neurons": 40, "fan_out": 6},
                "decoder.input": {"spikes": spikes / 2, "neurons": 20, "fan_out": 3},
            },
            "tc": tc,
        }

    def predict(self, batch, outputs):
        return [{"qid": meta["qid"], "tc": outputs["tc"]} for meta in batch["meta"]]


class AttributeTcModel(ConstantActivityModel):
    """Takes its Tc from ``inference_tc`` rather than a forward argument."""

    inference_tc = 1

    def forward(self, batch):
        return super().forward(batch, self.inference_tc)


def test_parse_tcs():
    assert parse_tcs("8, 1,2") == [1, 2, 8]
    for bad in ("0,1", "1,x", "2,2", "", "1.5", "1,2²"):
        with pytest.raises(UserError, match="--tc"):
            parse_tcs(bad)


@pytest.mark.parametrize("model", [ConstantActivityModel(), AttributeTcModel()])
def test_sweep_energy_is_linear_in_tc_for_constant_activity(model):
    batches = [mask_batch([4, 3], [2, 2]), mask_batch([5], [3])]
    points = sweep(
        model,
        batches,
        [1, 2, 4, 8],
        SHAPE,
        PAPER,
        "int_acc",
        lambda predictions: {"score": 10.0 * predictions[0]["tc"]},
        progress=False,
    )
    assert [p.tc for p in points] == [1, 2, 4, 8] and points[2].metrics == {"score": 40.0}
    total = np.array([p.energy.total_mj for p in points])
    tcs = np.array([1, 2, 4, 8])
    slope, intercept = np.polyfit(tcs, total, 1)
    assert total == pytest.approx(intercept + slope * tcs, rel=1e-9)
    # per step: 2 batches x (10 x 6 + 5 x 3) int accumulations plus the per-step float work
    spiking = np.array([p.energy.spiking_mj for p in points])
    assert spiking == pytest.approx(tcs * 2 * (60 + 15) * 0.1e-9)
    assert points[0].energy.queries == 3
    assert points[0].rates == {"decoder.input": pytest.approx(5 / 20), "layer0.k": pytest.approx(10 / 40)}


def test_model_without_tc_control_is_a_user_error():
    class NoTc(nn.Module):
        def forward(self, batch):
            return {}

    with pytest.raises(UserError, match="no number of timesteps"):
        run_at_tc(NoTc(), {}, 2)


def test_ann_reference_is_the_paper_encoder_per_query():
    batches = [mask_batch([4, 3], [2, 2]), mask_batch([5], [3])]
    expected = np.mean([3 * ann_layer_macs(L, 8) for L in (6, 5, 8)])
    assert ann_reference_macs(batches, 8, 3) == pytest.approx(expected)
    # an FFN of width F: its two layers are 2LDF, the rest as before
    wide = np.mean([3 * (ann_layer_macs(L, 8) + 2 * L * 8 * (32 - 8)) for L in (6, 5, 8)])
    assert ann_reference_macs(batches, 8, 3, 32) == pytest.approx(wide)
    assert PAPER.mj("fp_mac", expected) == pytest.approx(expected * 4.6e-9)


def fake_points(tcs=(1, 2, 4, 8)) -> list[TcPoint]:
    points = []
    for tc in tcs:
        components = {"layer0.k": Component(np.full(tc, 10.0), 40, 6), "decoder.f.0": Component(np.full(tc, 2.0), 9, 3)}
        record = make_record(components, [4, 3], [2, 2], "test")
        metrics = {"MR-full-R1@0.5": 30 + 5 * np.log2(tc), "HL-min-VeryGood-Hit1": 40 + 3 * np.log2(tc), "other": 1.0}
        points.append(TcPoint(tc, metrics, measure(record, SHAPE, PAPER, "int_acc"), {"layer0.k": 0.25}))
    return points


def make_report(reference: dict) -> dict:
    return build_report(
        fake_points(),
        reference,
        0.002,
        PAPER,
        "int_acc",
        {"checkpoint": "s.ckpt", "variant": "1bit_nf"},
        {"root": "data", "split": "val", "queries": 2},
    )


def test_report_files_and_contents(tmp_path):
    reference = {
        "kind": "teacher",
        "name": "univtg",
        "total_mj": 0.01,
        "metrics": {"MR-full-R1@0.5": 50.0, "HL-min-VeryGood-Hit1": 60.0, "other": 2.0},
    }
    points = fake_points()
    paths = write_report(make_report(reference), tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == [
        "accuracy_vs_efficiency.png",
        "accuracy_vs_tc.png",
        "energy_vs_tc.png",
        "report.json",
        "report.md",
    ]
    for name in ("accuracy_vs_efficiency", "accuracy_vs_tc", "energy_vs_tc"):
        image = matplotlib.image.imread(paths[name])
        assert image.ndim == 3 and image.shape[0] > 200 and image.std() > 0  # a drawn picture, not a blank
    saved = json.loads(paths["json"].read_text())
    assert saved["metrics_plotted"] == ["MR-full-R1@0.5", "HL-min-VeryGood-Hit1"]
    for row, point in zip(saved["points"], points):
        assert row["efficiency"] == pytest.approx(0.01 / (point.energy.total_mj / 2))
    efficiency = [row["efficiency"] for row in saved["points"]]
    assert efficiency == sorted(efficiency, reverse=True)  # more timesteps, more energy, lower E_f
    text = paths["markdown"].read_text()
    assert "| univtg | 50 | 60 |" in text and "| 8 | 45 | 49 |" in text
    assert "![energy_vs_tc](energy_vs_tc.png)" in text


def test_plots_leave_out_a_beside_model_scored_without_a_metric(tmp_path):
    """report.md shows such a model's missing metric as empty; the plots raised KeyError."""
    reference = {"kind": "teacher", "name": "univtg", "total_mj": 0.01, "metrics": {"MR-full-R1@0.5": 50.0}}
    report = make_report(reference)
    report["beside"] = [{"name": "sdst", "total_mj": 0.02, "metrics": {"MR-full-R1@0.5": 40.0}}]
    paths = write_report(report, tmp_path / "out")
    assert matplotlib.image.imread(paths["accuracy_vs_efficiency"]).std() > 0


def test_a_tc_without_energy_has_no_ratio_and_no_point(tmp_path):
    """A silent student (no spike, a table pricing nothing else) has no E_f at that Tc: the plots leave it out."""
    reference = {"kind": "teacher", "name": "univtg", "total_mj": 0.01, "metrics": {"MR-full-R1@0.5": 50.0}}
    report = make_report(reference)
    report["points"][0]["efficiency"] = None
    paths = write_report(report, tmp_path / "out")
    assert matplotlib.image.imread(paths["accuracy_vs_efficiency"]).std() > 0


def test_report_without_teacher_uses_the_formula_reference():
    reference = {"kind": "ann_formula", "name": "non-spiking encoder", "total_mj": 0.01, "metrics": None}
    report = make_report(reference)
    assert report["points"][0]["paper_ifr"] == {"k": 0.25}
    text = markdown(report, [])
    assert "non-spiking encoder (ann_formula)" in text and "| 1 | 30 | 40 |" in text
    assert all(row["efficiency"] > 0 for row in report["points"])
    for row, point in zip(report["points"], fake_points()):
        assert row["encoder_efficiency"] == pytest.approx(0.002 / (point.energy.encoder_mj / 2))


@pytest.fixture(scope="module")
def tiny_spiking():
    """A tiny untrained SpikingVTG (base variant, quick leak) and two queries of the synthetic data."""
    pytest.importorskip("spiking.model")
    from vtg.data.collate import collate
    from vtg.models import build_model

    torch.manual_seed(0)
    dims = {"video_dim": 6, "text_dim": 5, "video_levels": 1, "text_levels": 1}
    config = {
        "variant": "base",
        "hidden_dim": 16,
        "num_layers": 1,
        "num_heads": 2,
        "ffn_dim": 16,
        "leak": 0.5,
        "f_layers": 2,
        "d_layers": 2,
    }
    model = build_model("spikingvtg", config, dims).eval()
    items = []
    for n, (lv, lq) in enumerate([(12, 4), (9, 6)]):
        items.append(
            {
                "video": torch.randn(lv, 1, 6) * 2,
                "text": torch.randn(lq, 1, 5) * 2,
                "foreground": torch.zeros(lv),
                "boundary": torch.zeros(lv, 2),
                "saliency": torch.zeros(lv),
                "saliency_valid": False,
                "windows": torch.zeros(0, 2),
                "meta": {"qid": n, "vid": f"v{n}", "query": "q", "duration": 2.0 * lv, "clip_len": 2.0},
            }
        )
    return model, collate(items), dims, config


def test_measured_energy_of_spiking_model_grows_linearly_with_tc(tiny_spiking):
    model, batch, dims, _ = tiny_spiking
    with torch.no_grad():
        longest = record_from_outputs(run_at_tc(model, batch, 8)["activity"], batch)
    per_step = sum(c.spikes * c.fan_out for c in longest.components.values()) * 0.9e-9  # FP-ACC, mJ (8,)
    shape = FloatShape(hidden=16, video_dim=6, text_dim=5, layers=1, heads=2, softmax=True, layernorm=True)
    tcs = [1, 2, 4, 8]
    points = sweep(model, [batch], tcs, shape, PAPER, "fp_acc", lambda p: {"n": len(p)}, progress=False)
    spiking = np.array([p.energy.spiking_mj for p in points])
    # a run of Tc steps costs the first Tc steps of a longer run: energy is the sum of per-step costs
    assert spiking == pytest.approx(np.cumsum(per_step)[np.array(tcs) - 1], rel=1e-6)
    total = np.array([p.energy.total_mj for p in points])
    assert np.all(np.diff(total) > 0)
    slope, intercept = np.polyfit(tcs, total, 1)
    residual = total - (intercept + slope * np.array(tcs))
    assert 1 - (residual**2).sum() / ((total - total.mean()) ** 2).sum() > 0.99  # R^2 of a straight line
    late, early = (total[3] - total[2]) / 4, (total[2] - total[1]) / 2  # energy per step, steps 5-8 and 3-4
    assert late == pytest.approx(early, rel=0.2)
    # the model's rates, neurons and fan-outs fed back into the structural formula give its encoder energy
    formula_mj = sum(8 * PAPER.mj("fp_acc", spiking_accumulations(t)) for t in encoder_terms(longest).values())
    assert formula_mj == pytest.approx(points[-1].energy.encoder_mj, rel=1e-6)


def test_sweep_counts_the_decoders_read_out_after_their_warm_up(tiny_spiking):
    model, batch, _, _ = tiny_spiking
    shape = FloatShape(hidden=16, video_dim=6, text_dim=5, layers=1, heads=2, softmax=True, layernorm=True)
    lv = int(batch["video_mask"].sum())

    def readout_macs(warmup: float) -> list[float]:
        model.config = dataclasses.replace(model.config, decoder_warmup=warmup)
        points = sweep(model, [batch], [1, 4, 8], shape, PAPER, "fp_acc", lambda p: {}, progress=False)
        return [p.energy.float_mj["decoder_readout"] / 4.6e-9 for p in points]

    config = model.config
    try:
        assert readout_macs(0.0) == pytest.approx([3 * lv * t for t in (1, 4, 8)])
        # k = min(ceil(0.25 Tc), Tc - 1): 0, 1 and 2 steps skipped at Tc 1, 4 and 8
        assert readout_macs(0.25) == pytest.approx([3 * lv * t for t in (1, 3, 6)])
    finally:
        model.config = config


def test_cli_report_end_to_end(tmp_path, tiny_spiking, capsys):
    _, _, _, config = tiny_spiking
    data = tmp_path / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny", "--json"]) == 0
    dims = json.loads(capsys.readouterr().out)
    dims = {key: dims[key] for key in ("video_dim", "text_dim", "video_levels", "text_levels")}
    save_checkpoint(tmp_path / "student.ckpt", "spikingvtg", {**config, "variant": "1bit_nf"}, dims)
    save_checkpoint(
        tmp_path / "teacher.ckpt", "univtg", {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16}, dims
    )
    out = tmp_path / "report"
    student, teacher = str(tmp_path / "student.ckpt"), str(tmp_path / "teacher.ckpt")
    args = [
        "energy",
        "report",
        "--checkpoint",
        student,
        "--teacher",
        teacher,
        "--data",
        str(data),
        "--split",
        "val",
        "--tc",
        "1,2,4",
        "--limit",
        "2",
        "--out",
        str(out),
        "--json",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    for name in ("report.json", "report.md", "accuracy_vs_tc.png", "energy_vs_tc.png", "accuracy_vs_efficiency.png"):
        assert (out / name).is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["snn_op"] == "int_acc" and report["reference"]["kind"] == "teacher"
    assert report["data"]["queries"] == 2 and report["reference"]["metrics"]
    energies = [p["total_mj"] for p in summary["points"]]
    assert [p["tc"] for p in summary["points"]] == [1, 2, 4] and energies == sorted(energies)
    assert all("MR-full-R1@0.5" in p["metrics"] for p in summary["points"])
    # beside the arithmetic-only figures: 45 nm with SRAM and Loihi, for the student and the teacher
    teacher = report["reference"]["estimates_mj"]
    assert teacher["arithmetic"] == pytest.approx(report["reference"]["total_mj"])
    assert teacher["sram"] > teacher["arithmetic"] and teacher["loihi"] is None
    last = report["points"][-1]
    assert last["estimates"]["arithmetic"]["total_mj"] == pytest.approx(last["energy"]["total_mj"])
    assert last["estimates"]["loihi"]["total_mj"] > last["energy"]["total_mj"]
    assert "## Arithmetic only and with memory" in (out / "report.md").read_text()


def test_cli_report_rejects_a_teacher_as_student(tmp_path, tiny_spiking, capsys):
    data = tmp_path / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny"]) == 0
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    save_checkpoint(tmp_path / "t.ckpt", "univtg", {"hidden_dim": 16, "num_layers": 1, "num_heads": 2}, dims)
    capsys.readouterr()
    args = ["energy", "report", "--checkpoint", str(tmp_path / "t.ckpt"), "--data", str(data), "--out", str(tmp_path)]
    assert main(args) == 2
    assert "takes SpikingVTG" in capsys.readouterr().err
    assert main(args[:-2] + ["--limit", "0"]) == 2
    assert "option '--limit': must be at least 1" in capsys.readouterr().err


def test_report_json_has_no_nan(tmp_path):
    points = fake_points((1, 2))
    for point in points:
        point.metrics["MR-middle-mAP"] = float("nan")  # an empty length split scores NaN
    report = build_report(
        points,
        {"kind": "ann_formula", "name": "e", "total_mj": 1.0, "metrics": None},
        0.5,
        PAPER,
        "int_acc",
        {"checkpoint": "s"},
        {"root": "d", "split": "val", "queries": 2},
    )
    assert json_safe(report)["points"][0]["metrics"]["MR-middle-mAP"] is None
    assert "- |" in markdown({**report, "metrics_plotted": ["MR-middle-mAP"]}, [])


def test_cli_report_draws_other_models_beside_the_teacher(tmp_path, tiny_spiking, capsys):
    _, _, _, config = tiny_spiking
    data = tmp_path / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny"]) == 0
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    save_checkpoint(tmp_path / "student.ckpt", "spikingvtg", {**config, "variant": "1bit_nf"}, dims)
    save_checkpoint(tmp_path / "teacher.ckpt", "univtg", {"hidden_dim": 16, "num_layers": 2, "num_heads": 2}, dims)
    save_checkpoint(tmp_path / "small.ckpt", "univtg", {"hidden_dim": 8, "num_layers": 1, "num_heads": 2}, dims)
    common = ["energy", "report", "--checkpoint", str(tmp_path / "student.ckpt"), "--data", str(data)]
    common += ["--teacher", str(tmp_path / "teacher.ckpt"), "--tc", "1,2", "--limit", "2"]
    out = tmp_path / "report"
    assert main([*common, "--beside", str(tmp_path / "small.ckpt"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["reference"]["kind"] == "teacher"
    (beside,) = report["beside"]
    assert beside["name"] == "univtg" and 0 < beside["total_mj"] < report["reference"]["total_mj"]
    assert "MR-full-R1@0.5" in beside["metrics"]
    assert "univtg (beside)" in (out / "report.md").read_text()
    capsys.readouterr()
    wrong = [*common, "--beside", str(tmp_path / "student.ckpt"), "--out", str(tmp_path / "other")]
    assert main(wrong) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "option --beside" in err[0]


def test_energy_report_scores_as_vtg_predict_does_with_the_checkpoints_max_video_len(tmp_path, tiny_spiking, capsys):
    """Both open the split through vtg.evaluation: the checkpoint's max_video_len (shorter than some of the
    split's videos here) cuts the videos of both, and the metrics at each Tc are the same numbers."""
    from vtg.data.dataset import VTGDataset

    _, _, _, config = tiny_spiking
    data = tmp_path / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny"]) == 0
    capsys.readouterr()
    lengths = sorted(VTGDataset(data, "val")[i]["video"].shape[0] for i in range(len(VTGDataset(data, "val"))))
    max_video_len = lengths[len(lengths) // 2] - 1
    assert max_video_len >= 1 and lengths[-1] > max_video_len
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    checkpoint = tmp_path / "student.ckpt"
    save_checkpoint(checkpoint, "spikingvtg", {**config, "variant": "1bit_nf"}, dims, {"max_video_len": max_video_len})

    common = ["--checkpoint", str(checkpoint), "--data", str(data), "--batch-size", "3", "--json"]
    assert main(["energy", "report", *common, "--tc", "2,5", "--out", str(tmp_path / "report")]) == 0
    points = {point["tc"]: point["metrics"] for point in json.loads(capsys.readouterr().out)["points"]}
    for tc in (2, 5):
        out = tmp_path / f"preds_{tc}.jsonl"
        assert main(["predict", *common, "--tc", str(tc), "--accelerator", "cpu", "--out", str(out)]) == 0
        predicted = json.loads(capsys.readouterr().out)
        assert predicted["tc"] == tc and predicted["count"] == len(lengths)
        # the videos were cut to the checkpoint's max_video_len: one saliency score per clip seen
        seen = [len(json.loads(line)["pred_saliency_scores"]) for line in out.read_text().splitlines()]
        assert max(seen) == max_video_len
        assert json_safe(predicted["metrics"]) == points[tc]
