"""``vtg-export --target lava``: the bundle's contents, refused variants, and bad bundles read by ``vtg simulate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from checkpoint_support import save_checkpoint

from export.bundle import read_bundle
from export.command import TARGETS
from export.command import main as export_main
from export.float_reference import model_from_bundle
from vtg.checkpoint import load_model
from vtg.cli import main as vtg_main
from vtg.errors import UserError

DIMS = {"video_dim": 12, "text_dim": 10, "video_levels": 1, "text_levels": 1}


def write_checkpoint(path: Path, variant: str, **overrides) -> Path:
    config = {"variant": variant, "hidden_dim": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 24, "tc": 3}
    return save_checkpoint(path, "spikingvtg", {**config, **overrides}, DIMS)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    checkpoint = write_checkpoint(root / "model.ckpt", "1bit_nf")
    assert (
        export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(root / "b"), "--tc", "5"]) == 0
    )
    return root / "b"


def test_targets_dispatch_to_one_module_each():
    assert TARGETS == {"lava": "export.lava_target", "onnx": "export.onnx_target", "nir": "export.nir_target"}


def test_one_bit_bundle_describes_itself(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "vtg-lava-bundle" and manifest["format_version"] == 6
    assert manifest["tc"] == 5
    assert manifest["architecture"]["variant"] == "1bit_nf" and manifest["architecture"]["ffn_dim"] == 24
    assert manifest["fixed_point"]["formats"]["state_bits"] == 24
    assert manifest["neuron"]["threshold"] == 1.0
    sign = manifest["tensors"]["fixed/layer0.int.sign"]
    assert sign["shape"] == [24, 16] and sign["dtype"] == "int8" and len(sign["sha256"]) == 64
    loaded = read_bundle(bundle)
    assert loaded.precisions == ["fixed", "float"]
    weight = loaded.arrays["float"]["layer0.int.weight"]
    assert np.unique(np.abs(weight)).size == 1  # beta sgn(.): one magnitude per matrix


def test_bundle_carries_the_firing_point(bundle, tmp_path):
    """fire_ratio 1 (the module's bundle): every firing point is its threshold; 0.5: half of it, rounded up."""
    for ratio, folder in ((1.0, bundle), (0.5, tmp_path / "b")):
        if ratio != 1.0:
            checkpoint = write_checkpoint(tmp_path / "half.ckpt", "1bit_nf", fire_ratio=ratio)
            assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(folder)]) == 0
        manifest = read_bundle(folder).manifest
        assert manifest["neuron"]["fire_ratio"] == manifest["float"]["fire_ratio"] == ratio
        assert manifest["model_config"]["fire_ratio"] == ratio
        scalars = manifest["fixed_point"]["scalars"]
        thresholds = {name.removesuffix(".threshold"): v for name, v in scalars.items() if name.endswith(".threshold")}
        assert {name: scalars[f"{name}.fire"] for name in thresholds} == {
            name: theta if ratio == 1.0 else (theta + 1) // 2 for name, theta in thresholds.items()
        }


def test_nf_bundle_is_float_only(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "nf.ckpt", "nf")
    assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "b")]) == 0
    loaded = read_bundle(tmp_path / "b")
    assert loaded.precisions == ["float"] and loaded.manifest["fixed_point"] is None
    with pytest.raises(UserError, match="no 'fixed' weights"):
        loaded.parameters("fixed")


def test_base_variant_is_refused_in_one_line(tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "base.ckpt", "base")
    assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "b")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "variant 'base' cannot be mapped" in error
    assert not (tmp_path / "b").exists()


def test_host_input_layers_travel_with_every_target(tmp_path, capsys):
    """The host input layers (model.input_mlp) are in the bundle, applied as the model applies them, in the
    NIR folder and both ONNX graphs (the integer one then takes real features, float64)."""
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 24, "tc": 3}
    config.update(input_mlp=True, input_mlp_layers=2)
    checkpoint = save_checkpoint(tmp_path / "mlp.ckpt", "spikingvtg", config, DIMS, jitter=0.1)
    model, _ = load_model(checkpoint)
    out = tmp_path / "b"
    assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    bundle = read_bundle(out)
    assert bundle.architecture["host_input_layers"] == 2
    parts = ("norm.weight", "norm.bias", "weight", "bias")
    assert {f"host.video.1.{part}" for part in parts} <= set(bundle.arrays["float"])
    assert not any(name.startswith("host.") for name in bundle.arrays["fixed"])
    video, text = torch.randn(7, DIMS["video_dim"]).double(), torch.randn(4, DIMS["text_dim"]).double()
    rebuilt = model_from_bundle(bundle)
    host_video, host_text = bundle.host_input(video.numpy(), text.numpy())
    with torch.no_grad():
        expected = model.double().inputs.video_host(video), model.inputs.text_host(text)
        assert np.allclose(host_video, expected[0].numpy(), atol=1e-12)
        assert np.allclose(host_text, expected[1].numpy(), atol=1e-12)
        assert np.allclose(rebuilt.inputs.video_host(video).numpy(), host_video, atol=1e-12)
    assert export_main(["--target", "nir", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "n")]) == 0
    manifest = json.loads((tmp_path / "n" / "manifest.json").read_text())
    with np.load(tmp_path / "n" / manifest["host_input"]["file"]) as weights:
        assert sorted(weights.files) == manifest["host_input"]["arrays"] and len(weights.files) == 16
        assert np.allclose(weights["host.text.0.weight"], bundle.arrays["float"]["host.text.0.weight"], atol=1e-6)
    assert "host input layers" in manifest["wiring"]["input.video"]["video features (last level)"]
    assert export_main(["--target", "onnx", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "g.onnx")]) == 0
    capsys.readouterr()
    integer = tmp_path / "i.onnx"
    assert export_main(["--target", "onnx", "--integer", "--checkpoint", str(checkpoint), "--out", str(integer)]) == 0
    assert "0 of" in capsys.readouterr().err  # equal to the integer reference on its check queries
    graph_inputs = {i.name: i.type.tensor_type.elem_type for i in onnx.load(str(integer)).graph.input}
    assert graph_inputs == {"video": onnx.TensorProto.DOUBLE, "text": onnx.TensorProto.DOUBLE}


def test_bundle_host_layers_must_agree_with_the_model_config(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "mlp.ckpt", "1bit_nf", input_mlp=True)
    assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "b")]) == 0
    manifest_path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["architecture"]["host_input_layers"] = 0
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="architecture.host_input_layers.*input_mlp"):
        read_bundle(tmp_path / "b")


def copy_bundle(source: Path, target: Path) -> Path:
    target.mkdir()
    for file in source.rglob("*.*"):
        destination = target / file.relative_to(source)
        destination.parent.mkdir(exist_ok=True)
        destination.write_bytes(file.read_bytes())
    return target


def simulate_error(bundle: Path, capsys) -> str:
    code = vtg_main(["simulate", "--bundle", str(bundle), "--data", str(bundle / "no-data"), "--json"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    return error


def test_missing_weight_file(bundle, tmp_path, capsys):
    broken = copy_bundle(bundle, tmp_path / "b")
    (broken / "fixed" / "layer0.k.sign.npy").unlink()
    assert "layer0.k.sign.npy: missing" in simulate_error(broken, capsys)


def test_checksum_mismatch(bundle, tmp_path, capsys):
    broken = copy_bundle(bundle, tmp_path / "b")
    file = broken / "float" / "layer0.q.bias.npy"
    np.save(file, np.load(file) + 1.0)
    assert "layer0.q.bias.npy: sha256 does not match" in simulate_error(broken, capsys)


def test_version_mismatch(bundle, tmp_path, capsys):
    broken = copy_bundle(bundle, tmp_path / "b")
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["format_version"] = 99
    (broken / "manifest.json").write_text(json.dumps(manifest))
    assert "field 'format_version'" in simulate_error(broken, capsys)


def test_not_a_bundle(tmp_path, capsys):
    assert "manifest.json: not found" in simulate_error(tmp_path, capsys)


def test_an_export_no_reader_takes_is_not_written(tmp_path, capsys):
    """A weight scale of 1e-9 makes a threshold Vth 2^12 / beta far beyond the 24-bit state: the bundle was
    written with exit 0 and refused by every reader."""
    checkpoint = write_checkpoint(tmp_path / "tiny_scale.ckpt", "1bit_nf")
    saved = torch.load(checkpoint, weights_only=True)
    key = next(name for name in saved["state_dict"] if name.endswith("layers.0.attention.key.weight"))
    saved["state_dict"][key] = torch.full_like(saved["state_dict"][key], 1e-9)
    torch.save(saved, checkpoint)
    out = tmp_path / "bundle"
    assert export_main(["--target", "lava", "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not written, the export is not a bundle this toolkit reads" in err[0]
    assert "layer0.k.threshold" in err[0] and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_scale.ckpt"]


def test_a_bundle_written_over_an_older_one_replaces_it(tmp_path, capsys):
    """The old bundle's simulation results (of the weights replaced) and weight files the new manifest does
    not list went on lying beside the new weights; other files of the folder stay."""
    out = tmp_path / "bundle"
    first = write_checkpoint(tmp_path / "a.ckpt", "1bit_nf")
    assert export_main(["--target", "lava", "--checkpoint", str(first), "--out", str(out)]) == 0
    (out / "simulation_val").mkdir()
    (out / "simulation_val" / "metrics.json").write_text("{}")
    np.save(out / "fixed" / "layer9.k.sign.npy", np.ones(2, np.int8))
    (out / "notes.txt").write_text("mine")
    second = write_checkpoint(tmp_path / "b.ckpt", "1bit_nf", init_gain=1.5)
    assert export_main(["--target", "lava", "--checkpoint", str(second), "--out", str(out)]) == 0
    assert "removed" in capsys.readouterr().err
    assert not (out / "simulation_val").exists() and not (out / "fixed" / "layer9.k.sign.npy").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert read_bundle(out).manifest["source"]["checkpoint"].endswith("b.ckpt")


def test_replacing_leaves_folders_that_are_not_bundles_and_links_targets_alone(tmp_path, monkeypatch, capsys):
    """Another program's manifest.json is not a bundle: nothing of its folder goes. A simulation_* link goes as a
    link (its target stays). A float-only bundle over a 1-bit one takes the fixed-point files with it. A bundle
    can be written into the current folder (`--out .`)."""
    theirs = tmp_path / "theirs"
    (theirs / "simulation_runs").mkdir(parents=True)
    (theirs / "manifest.json").write_text('{"name": "my web app"}')
    one_bit = write_checkpoint(tmp_path / "a.ckpt", "1bit_nf")
    assert export_main(["--target", "lava", "--checkpoint", str(one_bit), "--out", str(theirs)]) == 0
    assert (theirs / "simulation_runs").is_dir()
    kept = tmp_path / "kept"
    kept.mkdir()
    (theirs / "simulation_link").symlink_to(kept)
    float_only = write_checkpoint(tmp_path / "b.ckpt", "nf")
    assert export_main(["--target", "lava", "--checkpoint", str(float_only), "--out", str(theirs)]) == 0
    assert kept.is_dir() and not (theirs / "simulation_link").exists()
    assert not list((theirs / "fixed").glob("*.npy")) and list((theirs / "float").glob("*.npy"))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert export_main(["--target", "lava", "--checkpoint", str(one_bit), "--out", "."]) == 0
    assert read_bundle(here).manifest["architecture"]["variant"] == "1bit_nf"
