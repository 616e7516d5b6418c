"""The Lava simulation of an exported 1-bit NF model against its PyTorch references (``vtg simulate``)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from export.bundle import read_bundle
from export.float_reference import float_reference, model_from_bundle
from export.lava_target import export
from hw_sim.simulation import FLOAT_TOLERANCE, load_queries, simulate_split
from vtg.cli import main as vtg_main
from vtg.models import build_model

TC = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny synthetic dataset and the bundle of a small random 1-bit NF model over its features."""
    root = tmp_path_factory.mktemp("lava")
    data = root / "data"
    assert vtg_main(["data", "synth", "--out", str(data), "--preset", "tiny", "--seed", "3"]) == 0
    torch.manual_seed(0)
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": TC}
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    model = build_model("spikingvtg", config, dims)
    export(model, {}, argparse.Namespace(checkpoint=Path("random"), out=root / "bundle", tc=None, max_clips=64))
    return data, root / "bundle"


def simulate(capsys, *argv: str) -> dict:
    assert vtg_main(["simulate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_fixed_point_matches_the_integer_reference_spike_for_spike(setup, tmp_path, capsys):
    data, bundle = setup
    out = tmp_path / "run"
    result = simulate(capsys, "--bundle", str(bundle), "--data", str(data), "--compare-torch", "--out", str(out))
    assert result["precision"] == "fixed" and result["tc"] == TC and result["queries"] == 8  # every val query
    assert result["spike_mismatches"] == 0 and result["spikes_compared"] > 10_000
    assert result["output_differences"] == {"foreground_logits": 0.0, "boundary": 0.0, "score": 0.0, "gate": 0.0}
    assert result["metrics_equal"] and "MR-full-mAP" in result["metrics"]
    assert result["queries_per_s"] > 0 and result["lava_processes"] == 9  # injector, input, 2 layers, decoder + 4
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 8 and {"qid", "pred_relevant_windows", "pred_saliency_scores"} <= json.loads(lines[0]).keys()
    activity = json.loads((out / "activity.json").read_text())
    assert len(activity["layer1.out"]["spikes"]) == TC and activity["layer1.out"]["neurons"] > 0
    assert activity["layer1.input"]["spikes"] == activity["layer0.out"]["spikes"]
    assert sum(activity["layer0.input"]["spikes"]) > 0 and activity["sfg"]["int_mults"][0] > 0


def test_other_architecture_is_exact_too(setup, tmp_path, capsys):
    """ReLU, no SFG, read-out-only decoders, four heads, another leak and threshold: still spike for spike."""
    data, _ = setup
    torch.manual_seed(1)
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 1, "num_heads": 4, "ffn_dim": 24, "tc": 5}
    config.update(activation="relu", sfg=False, f_layers=1, d_layers=1, leak=0.9, threshold=0.5)
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    model = build_model("spikingvtg", config, dims)
    export(model, {}, argparse.Namespace(checkpoint=Path("random"), out=tmp_path / "b", tc=None, max_clips=64))
    result = simulate(capsys, "--bundle", str(tmp_path / "b"), "--data", str(data), "--limit", "3", "--compare-torch")
    assert result["tc"] == 5 and result["lava_processes"] == 7
    assert result["spike_mismatches"] == 0 and result["spikes_compared"] > 0 and result["metrics_equal"]


def test_floating_point_matches_pytorch_float(setup, capsys):
    data, bundle = setup
    argv = ["--bundle", str(bundle), "--data", str(data), "--precision", "float", "--limit", "3", "--compare-torch"]
    result = simulate(capsys, *argv)
    assert result["precision"] == "float" and result["queries"] == 3
    assert result["spike_mismatches"] == 0
    assert max(result["output_differences"].values()) < FLOAT_TOLERANCE
    assert result["metrics_max_difference"] < 1e-9, result


def test_fire_ratio_half_is_exact_in_fixed_and_floating_point(setup, tmp_path, capsys):
    """fire_ratio 0.5 on every neuron (fire at |u| >= Vth / 2, subtract Vth), the decoders' IF neurons
    included: the bundle's model is the PyTorch one, Lava fixed point is the integer reference spike for
    spike, Lava floating point the PyTorch model."""
    data, _ = setup
    torch.manual_seed(0)
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": TC}
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    model = build_model("spikingvtg", {**config, "fire_ratio": 0.5}, dims).double().eval()
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
def test_no_lava_process_is_left_after_a_failure_midway(setup, failure):
    """An exception after the first query, or Ctrl-C (held until that query's steps end), stops Lava."""
    data, bundle = setup
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
