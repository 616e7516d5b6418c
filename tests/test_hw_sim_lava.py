"""The Lava simulation of an exported 1-bit NF model against its PyTorch references (``vtg simulate``)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from export import fixed_point as fp
from export.bundle import read_bundle
from export.float_reference import float_reference, model_from_bundle
from export.integer_reference import IntegerReference
from export.lava_target import export
from hw_sim.runner import LavaSimulation
from hw_sim.simulation import FLOAT_TOLERANCE, load_queries, simulate_split
from vtg.cli import main as vtg_main
from vtg.models import build_model

TC = 3


def simulate(capsys, *argv: str) -> dict:
    assert vtg_main(["simulate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_fixed_point_matches_the_integer_reference_spike_for_spike(random_bundle, tmp_path, capsys):
    data, bundle = random_bundle
    out = tmp_path / "run"
    result = simulate(capsys, "--bundle", str(bundle), "--data", str(data), "--compare-torch", "--out", str(out))
    assert result["precision"] == "fixed" and result["tc"] == TC and result["queries"] == 8  # every val query
    assert result["spike_mismatches"] == 0 and result["spikes_compared"] > 10_000
    assert result["output_differences"] == {"foreground_logits": 0.0, "boundary": 0.0, "score": 0.0, "gate": 0.0}
    assert result["metrics_equal"] and "MR-full-mAP" in result["metrics"] and result["agrees_with_torch"]
    assert result["queries_per_s"] > 0 and result["lava_processes"] == 9  # injector, input, 2 layers, decoder + 4
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 8 and {"qid", "pred_relevant_windows", "pred_saliency_scores"} <= json.loads(lines[0]).keys()
    activity = json.loads((out / "activity.json").read_text())  # vtg-activity/1, one record per query
    assert activity["format"] == "vtg-activity/1" and activity["snn_op"] == "int_acc" and len(activity["records"]) == 8
    for record in activity["records"]:
        components, tokens = record["activity"], record["video_tokens"][0] + record["text_tokens"][0]
        assert len(components["layer1.out"]["spikes"]) == TC and components["layer1.out"]["neurons"] == tokens * 16
        assert components["layer1.input"]["spikes"] == components["layer0.out"]["spikes"]
        assert components["layer0.k"]["fan_out"] == tokens and sum(components["layer0.input"]["spikes"]) > 0


def test_a_disagreement_with_the_reference_is_exit_status_1(random_bundle, tmp_path, capsys, monkeypatch):
    """--compare-torch is a check: a spike that differs ends in one line on stderr and status 1, files written."""
    import hw_sim.simulation

    data, bundle = random_bundle
    original = hw_sim.simulation.simulate_split

    def one_spike_off(*args, **kwargs):
        report = original(*args, **kwargs)
        report.spike_mismatches += 1
        return report

    monkeypatch.setattr(hw_sim.simulation, "simulate_split", one_spike_off)
    out = tmp_path / "run"
    argv = ["simulate", "--bundle", str(bundle), "--data", str(data), "--limit", "1", "--compare-torch"]
    assert vtg_main([*argv, "--out", str(out), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["agrees_with_torch"] is False and (out / "metrics.json").is_file()
    assert "Lava and the PyTorch reference disagree (1 spike mismatches" in captured.err


def test_other_architecture_is_exact_too(random_bundle, tmp_path, capsys):
    """ReLU, no SFG, read-out-only decoders, four heads, another leak and threshold, two host input layers
    (model.input_mlp, applied on the host before quantisation): still spike for spike, and the floating-point
    Lava run still the PyTorch model."""
    data, _ = random_bundle
    torch.manual_seed(1)
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 1, "num_heads": 4, "ffn_dim": 24, "tc": 5}
    config.update(activation="relu", sfg=False, f_layers=1, d_layers=1, leak=0.9, threshold=0.5)
    config.update(input_mlp=True, input_mlp_layers=2)
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    model = build_model("spikingvtg", config, dims)
    export(model, {}, argparse.Namespace(checkpoint=Path("random"), out=tmp_path / "b", tc=None, max_clips=64))
    result = simulate(capsys, "--bundle", str(tmp_path / "b"), "--data", str(data), "--limit", "3", "--compare-torch")
    assert result["tc"] == 5 and result["lava_processes"] == 7
    assert result["spike_mismatches"] == 0 and result["spikes_compared"] > 0 and result["metrics_equal"]
    argv = ["--bundle", str(tmp_path / "b"), "--data", str(data), "--precision", "float", "--limit", "3"]
    result = simulate(capsys, *argv, "--compare-torch")
    assert result["spike_mismatches"] == 0 and max(result["output_differences"].values()) < FLOAT_TOLERANCE


def test_floating_point_matches_pytorch_float(random_bundle, capsys):
    data, bundle = random_bundle
    argv = ["--bundle", str(bundle), "--data", str(data), "--precision", "float", "--limit", "3", "--compare-torch"]
    result = simulate(capsys, *argv)
    assert result["precision"] == "float" and result["queries"] == 3
    assert result["spike_mismatches"] == 0
    assert max(result["output_differences"].values()) < FLOAT_TOLERANCE
    assert result["metrics_max_difference"] < 1e-9, result


def test_fire_ratio_half_and_decoder_warmup_are_exact_in_fixed_and_floating_point(random_bundle, tmp_path, capsys):
    """fire_ratio 0.5 on every neuron (fire at |u| >= Vth / 2, subtract Vth), the decoders' IF neurons
    included, and decoders that skip the encoder's first step (decoder_warmup 0.25 of Tc 3: ceil(0.75) = 1
    step) and a first-step gate of 0.25 (model.initial_gate): the bundle's model is the PyTorch one, Lava
    fixed point is the integer reference spike for spike, Lava floating point the PyTorch model."""
    data, _ = random_bundle
    torch.manual_seed(0)
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": TC}
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    changes = {"fire_ratio": 0.5, "decoder_warmup": 0.25, "initial_gate": 0.25}
    model = build_model("spikingvtg", {**config, **changes}, dims).double().eval()
    export(model, {}, argparse.Namespace(checkpoint=Path("random"), out=tmp_path / "b", tc=None, max_clips=64))
    bundle = read_bundle(tmp_path / "b")
    scalars = bundle.manifest["fixed_point"]["scalars"]
    assert bundle.manifest["float"]["fire_ratio"] == 0.5
    for population in ("input", "layer1.attn", "layer0.int", "decoder.f.0", "decoder.d.1"):
        assert scalars[f"{population}.fire"] == (scalars[f"{population}.threshold"] + 1) // 2

    # (a) the float reference, rebuilt from the bundle, spikes as the PyTorch model does
    _, queries = load_queries(str(data), "val", 2, bundle)
    rebuilt = model_from_bundle(bundle)
    whole = model_from_bundle(bundle)
    for neuron in whole.modules():
        if hasattr(neuron, "fire_ratio"):
            neuron.fire_ratio = 1.0
    for query in queries:
        ours, theirs = (float_reference(m, query.video, query.text, TC) for m in (rebuilt, model))
        assert ours.spikes.keys() == theirs.spikes.keys() and "decoder.d.1" in ours.spikes
        decoders = [name for name in ours.spikes if name.startswith("decoder.")]
        assert all(ours.spikes[name].shape[0] == TC and not ours.spikes[name][0].any() for name in decoders)
        assert any(ours.spikes[name][1:].any() for name in decoders)  # they run from the second step
        assert all(torch.equal(ours.spikes[name], theirs.spikes[name]) for name in ours.spikes)
        other = float_reference(whole, query.video, query.text, TC)
        assert any(not torch.equal(ours.spikes[name], other.spikes[name]) for name in ours.spikes)

    # (b) Lava fixed point against the integer reference, floating point against PyTorch
    argv = ["--bundle", str(tmp_path / "b"), "--data", str(data), "--limit", "3", "--compare-torch"]
    fixed = simulate(capsys, *argv)
    assert fixed["spike_mismatches"] == 0 and fixed["spikes_compared"] > 1000 and fixed["metrics_equal"]
    assert set(fixed["output_differences"].values()) == {0.0}
    floating = simulate(capsys, *argv, "--precision", "float")
    assert floating["spike_mismatches"] == 0 and max(floating["output_differences"].values()) < FLOAT_TOLERANCE


def test_rate_driven_currents_are_exact_in_fixed_and_floating_point(random_bundle, tmp_path, capsys):
    """model.rate_driven: the input and intermediate neurons' increments are in the bundle's model (float:
    the PyTorch model's spikes; without them other spikes) and in the integer model (other spikes than
    without), and Lava computes them as the references do: fixed point spike for spike with the integer
    reference, floating point with PyTorch."""
    data, _ = random_bundle
    torch.manual_seed(0)
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 24, "tc": TC}
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    changes = {"fire_ratio": 0.5, "initial_gate": 0.25, "rate_driven": True}
    model = build_model("spikingvtg", {**config, **changes}, dims).double().eval()
    export(model, {}, argparse.Namespace(checkpoint=Path("random"), out=tmp_path / "b", tc=None, max_clips=64))
    bundle = read_bundle(tmp_path / "b")
    assert bundle.architecture["rate_driven"] is True and bundle.manifest["model_config"]["rate_driven"] is True

    _, queries = load_queries(str(data), "val", 2, bundle)
    rebuilt = model_from_bundle(bundle)
    paper = build_model("spikingvtg", {**config, **changes, "rate_driven": False}, dims).double().eval()
    paper.load_state_dict(rebuilt.state_dict())
    integer = IntegerReference(*bundle.parameters("fixed"))
    arrays, scalars, architecture = bundle.parameters("fixed")
    integer_paper = IntegerReference(arrays, scalars, {**architecture, "rate_driven": False})
    for query in queries:
        ours, theirs = (float_reference(m, query.video, query.text, TC) for m in (rebuilt, model))
        assert all(torch.equal(ours.spikes[name], theirs.spikes[name]) for name in ours.spikes)
        other = float_reference(paper, query.video, query.text, TC)
        assert not torch.equal(ours.spikes["layer0.int"], other.spikes["layer0.int"])
        features = bundle.host_input(query.video, query.text)
        driven, plain = (reference.run(*features, TC) for reference in (integer, integer_paper))
        assert not torch.equal(driven.spikes["layer0.int"], plain.spikes["layer0.int"])
        assert not torch.equal(driven.spikes["input"], plain.spikes["input"])

    argv = ["--bundle", str(tmp_path / "b"), "--data", str(data), "--limit", "3", "--compare-torch"]
    fixed = simulate(capsys, *argv)
    assert fixed["spike_mismatches"] == 0 and fixed["spikes_compared"] > 1000 and fixed["metrics_equal"]
    floating = simulate(capsys, *argv, "--precision", "float")
    assert floating["spike_mismatches"] == 0 and max(floating["output_differences"].values()) < FLOAT_TOLERANCE


def test_weights_biases_and_thresholds_are_vars_of_the_running_network(random_bundle):
    """Read on a running (paused) network, a weight Var holds the bundle's signs, a decoder row its
    kernel, a threshold Var the bundle's Theta; a threshold set between runs acts on the next one."""
    data, path = random_bundle
    bundle = read_bundle(path)
    arrays, scalars, _ = bundle.parameters("fixed")
    _, queries = load_queries(str(data), "val", 2, bundle)
    lengths = {"max_video": max(q.video.shape[0] for q in queries), "max_text": max(q.text.shape[0] for q in queries)}
    with LavaSimulation(bundle, "fixed", TC, **lengths, batch=2) as sim:
        first = sim.run_batch([(q.video, q.text) for q in queries])
        assert np.array_equal(sim.layers[0].w_k.get(), arrays["layer0.k.sign"])
        assert np.array_equal(sim.layers[1].b_int.get(), arrays["layer1.int.bias"])
        kernel = arrays["decoder.d.1.sign"]  # the read-out layer: 2 of the Var's rows
        assert np.array_equal(sim.decoder.w_d.get()[1, : kernel.shape[0], : kernel.shape[1]], kernel)
        thresholds = [scalars[f"layer1.{name}.threshold"] for name in ("k", "v", "attn", "so", "int", "out")]
        assert sim.layers[1].threshold.get().tolist() == thresholds
        assert sim.input.fire.get().tolist() == [scalars["input.fire"]]
        assert sum(first[0].counts["input"]) > 0
        sim.input.fire.set(np.array([fp.STATE_MAX + 1]))  # beyond the 24-bit membrane: the input neurons fall silent
        silent = sim.run_batch([(q.video, q.text) for q in queries])
        assert all(sum(result.counts["input"]) == 0 for result in silent)


def test_queries_side_by_side_in_uneven_batches_are_exact(random_bundle, capsys):
    """Batches of 3 over 5 queries (the last one padded with a repeated query): still spike for spike."""
    data, bundle = random_bundle
    argv = ["--bundle", str(bundle), "--data", str(data), "--limit", "5", "--batch", "3", "--compare-torch"]
    result = simulate(capsys, *argv)
    assert result["batch"] == 3 and result["queries"] == 5
    assert result["spike_mismatches"] == 0 and result["spikes_compared"] > 0 and result["metrics_equal"]
    assert set(result["output_differences"].values()) == {0.0}


def lava_children() -> set[int]:
    """Child processes of this one, multiprocessing's resource tracker excepted."""
    pid = os.getpid()
    children = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            children.update(int(child) for child in handle.read().split())
    alive = set()
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as handle:
                if b"resource_tracker" not in handle.read():
                    alive.add(child)
        except FileNotFoundError:
            pass
    return alive


@pytest.mark.parametrize("failure", ["exception", "ctrl-c"])
def test_no_lava_process_is_left_after_a_failure_midway(random_bundle, failure):
    """An exception after the first query, or Ctrl-C (held until that query's steps end), stops Lava."""
    data, bundle = random_bundle
    _, queries = load_queries(str(data), "val", 3, read_bundle(bundle))
    before = lava_children()
    started = []

    def fail_after_first(index, result):
        if index == 0:
            started.append(lava_children() - before)
            if failure == "exception":
                raise RuntimeError("injected failure")
            os.kill(os.getpid(), signal.SIGINT)

    expected = RuntimeError if failure == "exception" else KeyboardInterrupt
    with pytest.raises(expected):
        simulate_split(read_bundle(bundle), queries, "fixed", TC, progress=False, on_query=fail_after_first)
    assert len(started[0]) >= 5  # the Lava processes were running
    deadline = time.monotonic() + 10
    while lava_children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not lava_children() - before
