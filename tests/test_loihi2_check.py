"""``vtg deploy check`` / ``vtg-export --check loihi2``: a bundle against Loihi 2's published limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_export_bundle import write_checkpoint

from export.command import main as export_main
from export.loihi2 import LIMITS, _nearest_weight, resources
from vtg.cli import main
from vtg.digest import sha256


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("loihi2")
    checkpoint = write_checkpoint(root / "model.ckpt", "1bit_nf")
    args = ["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(root / "b"), "--max-clips", "10"]
    assert export_main([*args, "--check", "loihi2"]) == 0  # the export runs the check and writes its JSON
    assert (root / "b.loihi2.json").is_file()
    return root / "b"


def test_check_prints_populations_totals_and_off_core_operations(bundle, tmp_path, capsys):
    out = tmp_path / "check.json"
    assert main(["deploy", "check", "--bundle", str(bundle), "--max-text", "6", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    pops = {pop["name"]: pop for pop in report["populations"]}
    L, D, F = 10 + 6, 16, 24  # max_clips + max_text tokens, hidden, ffn
    assert pops["input"]["neurons"] == L * D and pops["layer0.int"]["neurons"] == L * F
    assert pops["layer0.out"]["fan_in"] == F + 1  # the output projection and the residual spike
    assert pops["decoder.f.0"]["neurons"] == 10 * D  # the decoders read the video clips only
    connections = {c["name"]: c for c in report["connections"]}
    assert connections["layer0.k"]["synapses"] == L * D * D and connections["layer0.k"]["weight_bits"] == 1
    assert connections["layer0.k"]["fan_out"] == D  # per token, a spike reaches the D key neurons
    off = {op["name"]: op for op in report["off_core"]}
    assert off["layer0.attention"]["count"] == 2 * L * L * D + L * D and off["layer0.attention"]["per"] == "step"
    assert {"sfg.cosine", "sfg.minmax", "sfg.gate", "layer0.int.gelu"} <= off.keys()
    totals = report["totals"]
    assert totals["neurons"] == sum(p["neurons"] for p in report["populations"])
    assert totals["chips"] == 1 and totals["neuro_cores"] == len(report["populations"])  # one core each
    assert report["broken"] == [] and len(report["residual_weights"]) == 2
    for line in ("layer0.attention", "sfg.cosine", "chips: 1", "neuro-cores", "layer0.int.current"):
        assert line in text
    assert report["limits"]["neuro_cores_per_chip"]["value"] == 128


def test_json_option_prints_one_object(bundle, tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["deploy", "check", "--bundle", str(bundle), "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["out"] == str(out) and printed["totals"] == json.loads(out.read_text())["totals"]


def test_export_check_with_json_prints_one_object_and_needs_a_lava_target(bundle, tmp_path, capsys):
    checkpoint = str(bundle.parent / "model.ckpt")
    args = ["--checkpoint", checkpoint, "--max-clips", "4", "--check", "loihi2"]
    capsys.readouterr()
    assert export_main(["--target", "lava", "--out", str(tmp_path / "b"), *args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["target"] == "lava" and printed["loihi2"]["tokens"]["max_clips"] == 4
    assert printed["check_out"] == str(tmp_path / "b.loihi2.json")
    assert export_main(["--target", "onnx", "--out", str(tmp_path / "m.onnx"), *args]) == 2
    assert "option --check" in capsys.readouterr().err


def with_bias(bundle: Path, crafted: Path, layer: str, value: int) -> Path:
    """A copy of ``bundle`` at ``crafted`` whose ``layer``'s fixed-point bias holds ``value`` at channel 3."""
    import shutil

    shutil.copytree(bundle, crafted)
    manifest = json.loads((crafted / "manifest.json").read_text())
    entry = manifest["tensors"][f"fixed/{layer}.bias"]
    bias = np.load(crafted / entry["file"])
    bias[3] = value
    np.save(crafted / entry["file"], bias)
    entry["sha256"] = sha256(crafted / entry["file"])
    (crafted / "manifest.json").write_text(json.dumps(manifest))
    return crafted


def test_a_bias_beyond_the_24_bit_state_ends_in_one_line_naming_the_population(bundle, tmp_path, capsys):
    crafted = with_bias(bundle, tmp_path / "crafted", "layer0.int", 2**30)
    capsys.readouterr()
    assert main(["deploy", "check", "--bundle", str(crafted), "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer0.int: bias 1073741824" in err[0] and "24-bit" in err[0]
    assert json.loads((tmp_path / "c.json").read_text())["broken"]  # the report is written all the same


def test_worst_case_currents_are_bounded_per_population_and_beyond_the_state_a_warning(bundle, tmp_path, capsys):
    """|I| <= fan_in << 12 + max|B| per 1-bit layer + |R| per residual spike; graded inputs have no static bound."""
    report = json.loads((bundle.parent / "b.loihi2.json").read_text())
    pops = {pop["name"]: pop for pop in report["populations"]}
    scalars = json.loads((bundle / "manifest.json").read_text())["fixed_point"]["scalars"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    out_bias = np.abs(np.load(bundle / manifest["tensors"]["fixed/layer0.out.bias"]["file"])).max()
    assert pops["layer0.out"]["worst_current"] == (24 << 12) + out_bias + abs(scalars["layer0.out.residual"])
    assert pops["input"]["worst_current"] is None and pops["layer0.attn"]["worst_current"] is None
    assert report["warnings"] == []
    # a bias just inside the state: no broken limit, but the output neurons' worst case is beyond it
    crafted = with_bias(bundle, tmp_path / "crafted", "layer0.out", 2**23 - 2)
    capsys.readouterr()
    assert main(["deploy", "check", "--bundle", str(crafted), "--out", str(tmp_path / "c.json")]) == 0
    warned = json.loads((tmp_path / "c.json").read_text())["warnings"]
    assert len(warned) == 1 and warned[0].startswith("layer0.out: worst-case input current")
    assert "warning: layer0.out: worst-case" in capsys.readouterr().out


def test_rate_driven_intermediate_neurons_have_no_static_current_bound(tmp_path):
    """With rate-driven currents the ReLU intermediate neurons get off-core increments, not synaptic sums."""
    checkpoint = write_checkpoint(tmp_path / "m.ckpt", "1bit_nf", activation="relu", rate_driven=True)
    assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "b")]) == 0
    assert main(["deploy", "check", "--bundle", str(tmp_path / "b"), "--out", str(tmp_path / "c.json")]) == 0
    pops = {pop["name"]: pop for pop in json.loads((tmp_path / "c.json").read_text())["populations"]}
    assert pops["layer0.int"]["worst_current"] is None and pops["layer0.out"]["worst_current"] > 24 << 12


def test_a_float_only_bundle_is_refused(tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "nf.ckpt", "nf")
    assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["deploy", "check", "--bundle", str(tmp_path / "b")]) == 2
    assert "fixed point" in capsys.readouterr().err


def test_a_neuron_too_big_for_one_core_is_named():
    arch = {"hidden_dim": 8, "num_layers": 1, "ffn_dim": 8, "activation": "relu", "video_dim": 4, "text_dim": 4}
    arch.update(max_clips=2, host_input_layers=0, f_layers=1, f_kernel=1, d_layers=1, d_kernel=1, rate_driven=False)
    arch["ffn_dim"] = LIMITS["memory_per_core"].value * 8  # the output neurons' fan-in: more bits than a core has
    broken = resources(arch, 1)["broken"]
    assert broken and broken[0].startswith("layer0.out: one neuron needs")


def test_paper_preset_shape_from_its_architecture():
    """configs/spikingvtg_paper.yaml (D = F = 1024, 4 layers, GELU, 3-layer decoders of kernel 3) with
    QVHighlights' 75 clips, 32 query tokens, SlowFast+CLIP video (2816) and CLIP text (512) features."""
    arch = {"hidden_dim": 1024, "num_layers": 4, "ffn_dim": 1024, "activation": "gelu", "max_clips": 75}
    arch.update(host_input_layers=0, video_dim=2816, text_dim=512, f_layers=3, f_kernel=3, d_layers=3, d_kernel=3)
    arch["rate_driven"] = False
    report = resources(arch, 32)
    totals = report["totals"]
    assert report["broken"] == []
    assert totals["neurons"] == 107 * 1024 * (1 + 4 * 8) + 75 * 1024 * 4 + 75 * 3
    assert totals["chips"] == totals["chips_by"]["by_synapses"] == 31  # synapses, not cores, set the count
    assert totals["chips_by"]["by_cores"] == 20 and totals["neuro_cores"] == 2548
    connections = {c["name"]: c for c in report["connections"]}
    assert connections["decoder.f.0"]["fan_out"] == 1024 * 3  # a video clip's spike reaches D x kernel synapses
    # rate-driven ReLU: W_int reads the self-output's trace off-core into an accumulator, as GELU's table does
    relu = resources({**arch, "activation": "relu", "rate_driven": True}, 32)
    assert relu["totals"]["neurons"] == totals["neurons"] and relu["totals"]["synapses"] == totals["synapses"]
    relu_connections = {c["name"]: c for c in relu["connections"]}
    assert relu_connections["layer0.int"]["target"] == "layer0.int.current"
    assert relu_connections["layer0.int.drive"]["weight"] == "graded current, one-to-one"


def test_rate_driven_currents_are_off_core_work_per_step():
    """model.rate_driven adds the input's increments (2 L D) and, per layer, the self-output trace, the division
    by N and the increments (L D + 3 L F) to the off-core operations of every step, and no neuron."""
    arch = {"hidden_dim": 16, "num_layers": 2, "ffn_dim": 24, "activation": "gelu", "max_clips": 10}
    arch.update(host_input_layers=0, video_dim=8, text_dim=8, f_layers=2, f_kernel=3, d_layers=2, d_kernel=3)
    plain, driven = (resources({**arch, "rate_driven": flag}, 6) for flag in (False, True))
    L = 10 + 6
    added = driven["totals"]["off_core_ops_per_step"] - plain["totals"]["off_core_ops_per_step"]
    assert added == 2 * L * 16 + 2 * (L * 16 + 3 * L * 24)
    assert driven["totals"]["neurons"] == plain["totals"]["neurons"]
    assert {op["name"] for op in driven["off_core"]} - {op["name"] for op in plain["off_core"]} == {
        "input.drive",
        "layer0.int.drive",
        "layer1.int.drive",
    }


def test_the_default_report_goes_beside_the_bundle_whatever_its_spelling(bundle, monkeypatch, capsys):
    monkeypatch.chdir(bundle)
    assert main(["deploy", "check", "--bundle", ".", "--json"]) == 0  # "." has no name of its own
    beside = bundle.with_name(bundle.name + ".loihi2.json")
    assert json.loads(capsys.readouterr().out)["out"] == str(beside) and beside.is_file()
    assert not list(bundle.glob("*.loihi2.json"))


@pytest.mark.parametrize("value", [1, 100, 127, 128, 254, 255, 256, 1023, 2**23 - 1, -255, -128])
def test_a_residual_weight_is_the_nearest_mantissa_that_fits(value):
    mantissa, exponent = _nearest_weight(value, 8)
    assert abs(mantissa) < 2**7 and exponent >= 0
    candidates = [m * 2**e for e in range(25) for m in range(-127, 128)]
    assert abs(mantissa * 2**exponent - value) == min(abs(c - value) for c in candidates)


def test_only_neuron_state_scalars_are_held_to_24_bits(bundle, tmp_path, capsys):
    import shutil

    def check(name: str, scalars: dict[str, int]) -> int:
        crafted = tmp_path / name
        shutil.copytree(bundle, crafted)
        manifest = json.loads((crafted / "manifest.json").read_text())
        manifest["fixed_point"]["scalars"].update(scalars)
        (crafted / "manifest.json").write_text(json.dumps(manifest))
        return main(["deploy", "check", "--bundle", str(crafted), "--out", str(tmp_path / f"{name}.json")])

    given = json.loads((bundle / "manifest.json").read_text())["fixed_point"]["scalars"]
    offset, shift = given["layer0.int.gelu_offset"], given["layer0.int.gelu_shift"]
    # the same table over bins 2^16 times wider: an offset far beyond 24 bits, a constant of the off-core GELU
    wide = {"layer0.int.gelu_offset": offset << 16, "layer0.int.gelu_shift": shift + 16}
    assert offset << 16 > 2**23 and check("gelu", wide) == 0
    capsys.readouterr()
    assert check("residual", {"layer0.so.residual": 2**25}) == 2  # a current the neurons add to their state
    assert "layer0.so: residual 33554432 needs 27 bits" in capsys.readouterr().err
