"""Measured energy from activity dicts (PyTorch model or Lava JSON), float work, and teacher FP-MACs."""

from __future__ import annotations

import dataclasses
import functools
import json
import operator

import numpy as np
import pytest
import torch
from torch import nn

from energy.activity import Component, load_activity_json, make_record, record_from_outputs, write_activity_json
from energy.analytic import formula, spiking_accumulations
from energy.float_work import FloatShape, float_macs, shape_of_spiking_model
from energy.measured import encoder_terms, measure, paper_ifr
from energy.ops import PAPER
from energy.teacher import count_macs, run_teacher, split_batch
from vtg.cli import main
from vtg.errors import UserError
from vtg.models import build_model

NF_SHAPE = FloatShape(hidden=4, video_dim=5, text_dim=6, layers=2, heads=2, softmax=False, layernorm=False)
BASE_SHAPE = FloatShape(hidden=4, video_dim=5, text_dim=6, layers=2, heads=2, softmax=True, layernorm=True)


def fake_record(tc: int = 3, seed: int = 0) -> object:
    """Two encoder layers and a decoder with random counts, neurons and fan-outs; two queries."""
    rng = np.random.default_rng(seed)
    components = {}
    for name in ("layer0.input", "layer0.k", "layer0.v", "layer1.attn", "layer1.int", "layer1.out", "decoder.f.0"):
        neurons = int(rng.integers(20, 60))
        components[name] = Component(rng.integers(0, neurons, tc).astype(float), neurons, int(rng.integers(0, 9)))
    return make_record(components, [3, 2], [2, 1], "test")


def test_ternary_spikes_count_by_magnitude():
    rng = np.random.default_rng(1)
    s = rng.integers(-1, 2, size=(4, 50))  # (Tc, neurons) in {-1, 0, 1}
    record = make_record({"layer0.v": Component(np.abs(s).sum(1).astype(float), 50, 7)}, [5], [3], "test")
    energy = measure(record, NF_SHAPE, PAPER, "int_acc")
    assert energy.components_mj["layer0.v"] == pytest.approx(np.abs(s).sum() * 7 * 0.1e-9)
    binary_only = (s == 1).sum() * 7 * 0.1e-9  # what a {0, 1} counter would report
    assert energy.components_mj["layer0.v"] > binary_only
    fp = measure(record, NF_SHAPE, PAPER, "fp_acc")
    assert fp.components_mj["layer0.v"] == pytest.approx(9 * energy.components_mj["layer0.v"])


def test_structural_formula_agrees_with_measured_encoder_total():
    record = fake_record(tc=5)
    energy = measure(record, NF_SHAPE, PAPER, "int_acc")
    terms = encoder_terms(record)
    assert sorted(terms) == ["layer0", "layer1"]
    from_formula = sum(record.tc * PAPER.mj("int_acc", spiking_accumulations(t)) for t in terms.values())
    assert from_formula == pytest.approx(energy.encoder_mj)
    assert energy.decoder_mj == pytest.approx(
        float(record.components["decoder.f.0"].spikes.sum()) * record.components["decoder.f.0"].fan_out * 0.1e-9
    )


def test_measured_matches_the_paper_terms_with_qk_fan_out():
    # a layer with the paper's structure: L D neurons each, constant rates; K fans out to L (QK^T)
    L, D, tc = 12, 8, 4
    rates = {"in": 0.4, "k": 0.2, "v": 0.1, "attn": 0.05, "int": 0.3}
    fan_outs = {"in": 3 * D, "k": L, "v": L, "attn": D, "int": D}
    components = {f"layer0.{c}": Component(np.full(tc, rates[c] * L * D), L * D, fan_outs[c]) for c in rates}
    record = make_record(components, [L - 3], [3], "test")
    measured = measure(record, NF_SHAPE, PAPER, "int_acc").encoder_mj
    analytic = formula(L, D, 1, tc, rates, PAPER, "int_acc", k_term="qk")["snn_mj_per_layer"]
    assert measured == pytest.approx(analytic)
    assert measured > formula(L, D, 1, tc, rates, PAPER, "int_acc", k_term="paper")["snn_mj_per_layer"]  # L > D


def test_float_work_counted_by_hand():
    record = make_record({"layer0.k": Component(np.zeros(2), 10, 1)}, [3, 2], [2, 1], "test")
    base = float_macs(record, BASE_SHAPE)
    # Lv = 5, Lq = 3, L_i = 5 and 3, D = 4, Dv = 5, Dt = 6, N = 2 layers, H = 2 heads, Tc = 2
    assert base == {
        "host_input": 0,
        "input_projection": 5 * 5 * 4 + 3 * 6 * 4,
        "sentence_pooling": 2 * 3 * 4,
        "sfg": 2 * 4 * 5 * 4,
        "softmax": 2 * 2 * 2 * (25 + 9),
        "layernorm": 2 * 2 * 2 * 2 * (5 + 3) * 4,
        "decoder_readout": 2 * 5 * 3,
        "rate_driven": 0,
    }
    nf = float_macs(record, NF_SHAPE)
    assert nf["softmax"] == 0 and nf["layernorm"] == 0 and nf["sfg"] == base["sfg"]
    # two host input layers: LayerNorm (2 per element) and a Dv x Dv / Dt x Dt Linear per token and layer
    host = float_macs(record, dataclasses.replace(NF_SHAPE, host_layers=2))
    assert host["host_input"] == 2 * (5 * 5 * (5 + 2) + 3 * 6 * (6 + 2))
    assert base["rate_driven"] == 0
    # rate-driven currents: 2 multiplications per input neuron, 4 per intermediate neuron and layer, each step
    architecture = {"variant": "1bit_nf", "hidden_dim": 4, "num_layers": 2, "num_heads": 2, "ffn_dim": 7}
    dims = {"video_dim": 5, "text_dim": 6}
    assert shape_of_spiking_model(architecture, dims) == NF_SHAPE  # the width matters only when rate-driven
    rate_shape = shape_of_spiking_model({**architecture, "rate_driven": True}, dims)
    assert rate_shape == dataclasses.replace(NF_SHAPE, ffn=7, rate_driven=True)
    assert float_macs(record, rate_shape)["rate_driven"] == 2 * (2 * 4 + 4 * 2 * 7) * (5 + 3)
    energy = measure(record, BASE_SHAPE, PAPER, "int_acc")
    assert energy.float_total_mj == pytest.approx(sum(base.values()) * 4.6e-9)
    # decoders that skip the first step (model.decoder_warmup) read out on the last one only
    warmed = make_record(record.components, [3, 2], [2, 1], "test", decoder_read_steps=1)
    assert float_macs(warmed, BASE_SHAPE) == {**base, "decoder_readout": 1 * 5 * 3}


def test_energy_sums_and_per_query():
    a, b = (measure(fake_record(seed=seed), NF_SHAPE, PAPER, "int_acc") for seed in (1, 2))
    total = functools.reduce(operator.add, [a, b])
    assert total.queries == 4
    assert total.total_mj == pytest.approx(a.total_mj + b.total_mj)
    per_query = total.per_query()
    assert per_query["total_mj"] == pytest.approx((a.total_mj + b.total_mj) / 4)
    parts = per_query["encoder_mj"] + per_query["decoder_mj"] + per_query["float_mj"]
    assert per_query["total_mj"] == pytest.approx(parts)


def test_record_from_model_outputs():
    activity = {
        "layer0.k": {"spikes": torch.tensor([3.0, 5.0]), "neurons": 40, "fan_out": 9},
        "sfg": {"spikes": torch.zeros(2), "neurons": 5, "fan_out": 0, "fp_mults": torch.full((2,), 60.0)},
    }
    video_mask, text_mask = torch.tensor([[1, 1, 1], [1, 1, 0]]), torch.tensor([[1, 0], [1, 1]])
    batch = {"video_mask": video_mask.bool(), "text_mask": text_mask.bool()}
    record = record_from_outputs(activity, batch)
    assert record.video_tokens == [3, 2] and record.text_tokens == [1, 2] and record.tc == 2
    assert record.components["layer0.k"].rate == pytest.approx(4 / 40)
    assert measure(record, NF_SHAPE, PAPER, "fp_acc").components_mj["sfg"] == 0


def test_activity_json_round_trip_and_cli_measure(tmp_path, capsys):
    records = [fake_record(seed=3), fake_record(seed=4)]
    path = tmp_path / "activity.json"
    write_activity_json(path, records, "int_acc", dataclasses.asdict(NF_SHAPE))
    loaded = load_activity_json(path)
    assert loaded["snn_op"] == "int_acc"
    assert [r.decoder_read_steps for r in loaded["records"]] == [3, 3]  # every step (no warm-up)
    warmed = make_record(records[0].components, [3, 2], [2, 1], "test", decoder_read_steps=2)
    write_activity_json(tmp_path / "warmed.json", [warmed], "int_acc", dataclasses.asdict(NF_SHAPE))
    assert load_activity_json(tmp_path / "warmed.json")["records"][0].decoder_read_steps == 2
    expected = functools.reduce(operator.add, (measure(r, NF_SHAPE, PAPER, "int_acc") for r in records))
    assert sum(measure(r, NF_SHAPE, PAPER, "int_acc").total_mj for r in loaded["records"]) == pytest.approx(
        expected.total_mj
    )
    assert main(["energy", "measure", "--activity", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["queries"] == 4
    assert summary["total_mj"] == pytest.approx(expected.total_mj / 4)
    assert summary["encoder_formula_mj"] == pytest.approx(summary["encoder_mj"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), "field 'format'"),
        (lambda d: d.update(snn_op="int_mac"), "field 'snn_op'"),
        (lambda d: d["model"].pop("hidden"), "field 'model.hidden'"),
        (lambda d: d["model"].update(softmax="no"), "field 'model.softmax'"),
        (lambda d: d["records"][0]["activity"]["layer0.k"].update(spikes=[1, -2, 0]), "activity.layer0.k.spikes"),
        (lambda d: d["records"][0]["activity"]["layer0.k"].update(spikes=[1]), "disagree on Tc"),
        (lambda d: d["records"][0]["activity"]["layer0.k"].update(spikes=[1, 99, 0]), "spikes in one step"),
        (lambda d: d["records"][0]["activity"]["layer0.k"].pop("neurons"), "activity.layer0.k"),
        (lambda d: d["records"][0]["activity"]["layer0.k"].update(fan_out=1.5), "activity.layer0.k.fan_out"),
        (lambda d: d["records"][0].update(video_tokens=[3]), "video_tokens"),
        (lambda d: d["records"][0].update(text_tokens=[0, 2]), "at least one token"),
        (lambda d: d["records"][0].update(decoder_read_steps=4), "field 'decoder_read_steps': expected 1 to 3"),
        (lambda d: d["records"][0].update(decoder_read_steps=1.5), "field 'decoder_read_steps'"),
    ],
)
def test_activity_json_errors_are_one_line_naming_the_field(tmp_path, capsys, change, message):
    record = {
        "video_tokens": [3, 2],
        "text_tokens": [1, 1],
        "activity": {
            "layer0.k": {"spikes": [1, 2, 0], "neurons": 10, "fan_out": 4},
            "layer0.v": {"spikes": [0, 2, 3], "neurons": 10, "fan_out": 4},
        },
    }
    data = {
        "format": "vtg-activity/1",
        "snn_op": "int_acc",
        "records": [record],
        "model": {
            "hidden": 4,
            "video_dim": 5,
            "text_dim": 6,
            "layers": 2,
            "heads": 2,
            "softmax": False,
            "layernorm": False,
        },
    }
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=message):
        shape = load_activity_json(path)["model"]
        FloatShape.from_mapping(shape, str(path))
    assert main(["energy", "measure", "--activity", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json" in err


def test_count_macs_of_linear_conv_and_attention():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    macs, out = count_macs(lambda: net(torch.randn(5, 6)))
    assert macs == 5 * (6 * 8 + 8 * 3) and out.shape == (5, 3)
    conv = nn.Conv1d(4, 7, 3, padding=1)
    assert count_macs(lambda: conv(torch.randn(1, 4, 10)))[0] == 10 * 7 * 4 * 3
    L, D, F = 9, 16, 24
    layer = nn.TransformerEncoderLayer(D, 4, F, batch_first=True).eval()  # fused attention on the CPU
    macs, _ = count_macs(lambda: layer(torch.randn(1, L, D)))
    assert macs == 4 * L * D * D + 2 * L * L * D + 2 * L * D * F


def tiny_batch(lengths: list[tuple[int, int]], dv: int = 6, dt: int = 5) -> dict:
    torch.manual_seed(1)
    lv, lq = max(v for v, _ in lengths), max(q for _, q in lengths)
    b = len(lengths)
    video_mask = torch.tensor([[i < v for i in range(lv)] for v, _ in lengths])
    text_mask = torch.tensor([[i < q for i in range(lq)] for _, q in lengths])
    return {
        "video": torch.randn(b, lv, 1, dv) * video_mask[:, :, None, None],
        "video_mask": video_mask,
        "text": torch.randn(b, lq, 1, dt) * text_mask[:, :, None, None],
        "text_mask": text_mask,
        "foreground": torch.zeros(b, lv),
        "boundary": torch.zeros(b, lv, 2),
        "saliency": torch.zeros(b, lv),
        "saliency_valid": torch.zeros(b, dtype=torch.bool),
        "windows": [torch.zeros(0, 2) for _ in lengths],
        "meta": [
            {"qid": i, "vid": f"v{i}", "query": "q", "duration": 2.0 * v, "clip_len": 2.0}
            for i, (v, _) in enumerate(lengths)
        ],
    }


def test_split_batch_trims_padding():
    singles = split_batch(tiny_batch([(7, 3), (4, 5)]))
    assert [s["video"].shape[1] for s in singles] == [7, 4]
    assert [s["text_mask"].shape[1] for s in singles] == [3, 5]
    assert singles[1]["meta"][0]["qid"] == 1 and singles[1]["video_mask"].all()


def test_teacher_energy_is_per_query_and_ignores_padding():
    dims = {"video_dim": 6, "text_dim": 5, "video_levels": 1, "text_levels": 1}
    teacher = build_model("univtg", {"hidden_dim": 16, "num_heads": 2, "ffn_dim": 16, "num_layers": 2}, dims)
    together, energy = run_teacher(teacher, [tiny_batch([(7, 3), (4, 5)])], PAPER)
    _, first = run_teacher(teacher, [tiny_batch([(7, 3)])], PAPER)
    assert len(together) == 2 and energy["queries"] == 2
    assert energy["total_mj"] == pytest.approx(energy["fp_macs"] * 4.6e-9)
    assert first["fp_macs"] < energy["fp_macs"] * 2  # the padded batch is not priced per padded token
    # the encoder alone (4 L D^2 + 2 L^2 D + 2 L D F per layer) is a lower bound of the whole model
    encoder = sum(2 * (4 * L * 256 + 2 * L * L * 16 + 2 * L * 256) for L in (10, 9)) / 2
    assert energy["fp_macs"] > encoder


def test_sdst_teacher_is_counted_too():
    import yaml

    with open("configs/sdst_demo.yaml") as handle:
        config = yaml.safe_load(handle)["model"]
    config.pop("name")
    config.update(hidden_dim=16, num_heads=2, num_queries=4, rdsa_cnn_hidden=8, rdsa_latent_dim=8)  # a fast size
    dims = {"video_dim": 6, "text_dim": 5, "video_levels": 1, "text_levels": 1}
    torch.manual_seed(0)
    teacher = build_model("sdst", config, dims)
    predictions, energy = run_teacher(teacher, [tiny_batch([(8, 3), (6, 4)])], PAPER, progress=False)
    assert [p["qid"] for p in predictions] == [0, 1] and energy["queries"] == 2
    assert energy["fp_macs"] > 0 and energy["total_mj"] == pytest.approx(energy["fp_macs"] * 4.6e-9)


def test_paper_ifr_averages_layers_under_the_paper_names():
    rates = {"layer0.input": 0.4, "layer1.input": 0.2, "layer0.k": 0.1, "layer0.so": 0.9, "decoder.f.0": 0.5}
    assert paper_ifr(rates) == {"in": pytest.approx(0.3), "k": 0.1}


def simulation_folder(tmp_path, variant: str = "1bit_nf") -> tuple[object, list]:
    """A ``vtg simulate`` output folder written by its own writer from random Lava-style counts, its
    per-query activity, and its bundle."""
    from hw_sim.activity import query_activity
    from hw_sim.simulate_command import write_activity

    arch = {
        "variant": variant,
        "hidden_dim": 8,
        "ffn_dim": 12,
        "num_layers": 2,
        "num_heads": 2,
        "video_dim": 6,
        "text_dim": 5,
        "f_layers": 2,
        "f_kernel": 3,
        "d_layers": 2,
        "d_kernel": 3,
        "decoder_warmup": 0.25,  # k = ceil(0.25 x 3) = 1: the decoders read steps 2 and 3
    }
    tc, rng = 3, np.random.default_rng(0)
    populations = ["input", "decoder.input", "decoder.f.0", "decoder.d.0"] + [
        f"layer{i}.{name}" for i in range(2) for name in ("k", "v", "attn", "so", "int", "out")
    ]
    activity = []
    for n_video, n_text in ((7, 3), (4, 2)):
        counts = {name: rng.integers(0, n_video + 1, tc) for name in populations}
        activity.append(query_activity(arch, counts, n_video, n_text, "fixed"))
    bundle, out = tmp_path / "bundle", tmp_path / "simulation_val"
    bundle.mkdir()
    out.mkdir()
    (bundle / "manifest.json").write_text(json.dumps({"format": "vtg-lava-bundle", "architecture": arch}))
    write_activity(out / "activity.json", activity, arch)
    (out / "metrics.json").write_text(json.dumps({"bundle": str(bundle), "queries": 2}))
    return out, activity


def test_lava_simulation_folder_is_measured_query_by_query(tmp_path, capsys):
    pytest.importorskip("hw_sim.activity")
    out, activity = simulation_folder(tmp_path)
    # k and v: one accumulation per spike and real token of that query (10 and 6 tokens)
    assert [query.components["layer0.k"]["fan_out"] for query in activity] == [10, 6]
    assert [query.components["decoder.f.0"]["neurons"] for query in activity] == [7 * 8, 4 * 8]
    assert [record.decoder_read_steps for record in load_activity_json(out / "activity.json")["records"]] == [2, 2]
    assert main(["energy", "measure", "--simulation", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["snn_op"] == "int_acc" and summary["queries"] == 2
    spiking = sum(sum(e["spikes"]) * e["fan_out"] for query in activity for e in query.components.values()) * 0.1e-9
    assert summary["encoder_mj"] + summary["decoder_mj"] == pytest.approx(spiking / 2)
    assert summary["encoder_formula_mj"] == pytest.approx(summary["encoder_mj"])
    # NF float work: 11 clips, 5 text tokens, D = 8, Tc = 3, the decoders reading 2 of the 3 steps
    macs = 11 * 6 * 8 + 5 * 5 * 8 + 2 * 5 * 8 + 3 * 4 * 11 * 8 + 2 * 11 * 3
    assert summary["float_mj"] == pytest.approx(macs * 4.6e-9 / 2)
    # the folder's activity.json is an activity JSON as it stands
    assert main(["energy", "measure", "--activity", str(out / "activity.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == summary


def test_lava_simulation_folder_errors(tmp_path, capsys):
    pytest.importorskip("hw_sim.activity")
    out, _ = simulation_folder(tmp_path)
    assert main(["energy", "measure", "--simulation", str(tmp_path / "nowhere")]) == 2
    assert "activity.json: not found" in capsys.readouterr().err
    assert main(["energy", "measure", "--activity", str(out / "activity.json"), "--bundle", "b"]) == 2
    assert "--bundle" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    manifest["architecture"]["hidden_dim"] = 16
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert main(["energy", "measure", "--simulation", str(out), "--bundle", str(other)]) == 2
    assert "activity.json: simulated a model of shape" in capsys.readouterr().err
    (out / "activity.json").write_text(json.dumps({"tc": 3, "precision": "fixed", "input": {}}))  # the old flat form
    assert main(["energy", "measure", "--simulation", str(out)]) == 2
    assert "field 'format': expected 'vtg-activity/1'" in capsys.readouterr().err
