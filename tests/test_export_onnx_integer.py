"""vtg-export --target onnx --integer: the integer graph of 1-bit NF equals the integer reference exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from checkpoint_support import save_checkpoint

from export import integer_onnx
from export.command import main
from export.host_input import apply_host_input
from export.integer_reference import IntegerReference
from vtg.checkpoint import load_model
from vtg.cli import main as vtg_main

TC = 3
DIMS = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}  # vtg data synth --preset tiny
CONFIG = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": TC, "threshold": 0.5}


def checkpoint(path: Path, variant: str, **overrides) -> Path:
    return save_checkpoint(path, "spikingvtg", {**CONFIG, "variant": variant, **overrides}, DIMS)


@pytest.fixture(scope="module")
def exported(synth_tiny, tmp_path_factory) -> tuple[Path, Path, Path]:
    root, data = tmp_path_factory.mktemp("integer_onnx"), synth_tiny
    ckpt = checkpoint(root / "m.ckpt", "1bit_nf")
    out = root / "model.onnx"
    argv = ["--target", "onnx", "--integer", "--checkpoint", str(ckpt), "--out", str(out), "--max-clips", "64"]
    assert main(argv) == 0
    return data, ckpt, out


def test_weights_are_int8_initialisers(exported):
    proto = onnx.load(str(exported[2]))
    types = {init.name: init.data_type for init in proto.graph.initializer}
    signs = [name for name in types if name.endswith("sign")]
    assert len(signs) >= 10 and all(types[name] == onnx.TensorProto.INT8 for name in signs)
    narrow = {onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32}
    assert all(t in narrow for t in types.values())  # biases and tables int32, nothing float or int64
    meta = {prop.key: prop.value for prop in proto.metadata_props}
    assert meta["vtg.format"] == "vtg-onnx-integer" and meta["vtg.tc"] == str(TC)


def test_onnxruntime_equals_the_integer_reference_on_every_val_query(exported, capsys):
    data, ckpt, out = exported
    total = integer_onnx.check_split(out, ckpt, str(data), "val", None)
    assert total["queries"] == 8 and total["spikes_compared"] > 10_000
    assert total["spikes"] == 0 and total["outputs"] == 0
    assert integer_onnx.main(["--onnx", str(out), "--checkpoint", str(ckpt), "--data", str(data), "--limit", "2"]) == 0


def test_the_demo_presets_dynamics_are_in_the_graph(synth_tiny, tmp_path, capsys):
    """The host input layer, the decoders' warm-up, the rate-driven currents, the rounding firing point and
    the first gate of configs/distill_demo.yaml: the graph equals the reference, and its read-out (the
    metadata's rule) the reference's."""
    preset = {"decoder_warmup": 0.25, "rate_driven": True, "fire_ratio": 0.5, "initial_gate": 0.25, "input_mlp": True}
    ckpt = checkpoint(tmp_path / "m.ckpt", "1bit_nf", **preset)
    out = tmp_path / "model.onnx"
    assert main(["--target", "onnx", "--integer", "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    total = integer_onnx.check_split(out, ckpt, str(synth_tiny), "val", 3)
    assert total["spikes_compared"] > 1000 and total["spikes"] == 0 and total["outputs"] == 0
    proto = onnx.load(str(out))
    meta = {prop.key: prop.value for prop in proto.metadata_props}
    read = int(meta["vtg.decoder_read_steps"])
    assert read == TC - 1  # k = ceil(0.25 x 3) = 1 step skipped
    assert "host input layers" in meta["vtg.inputs"]

    model, _ = load_model(ckpt)
    arrays, scalars, architecture = integer_onnx.parameters(model.double().eval(), int(meta["vtg.max_clips"]))
    rng = np.random.default_rng(5)
    video, text = rng.standard_normal((6, DIMS["video_dim"])), rng.standard_normal((4, DIMS["text_dim"]))
    features = integer_onnx.Features(model)
    hosted = [apply_host_input(features.host, 1, m, x) for m, x in (("video", video), ("text", text))]
    reference = IntegerReference(arrays, scalars, architecture).run(*hosted, TC)  # as vtg simulate runs it
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"video": video, "text": text})))  # real features in
    scale = json.loads(meta["vtg.readout_scale"])
    np.testing.assert_allclose(outputs["foreground.sum"][:, 0] * scale["f"] / read, reference.foreground_logits)
    assert not outputs["spikes.decoder.f.0"][0].any() and outputs["spikes.decoder.f.0"][1:].any()


def test_refuses_a_model_without_1bit_weights(tmp_path, capsys):
    ckpt = checkpoint(tmp_path / "m.ckpt", "nf")
    out = tmp_path / "model.onnx"
    assert main(["--target", "onnx", "--integer", "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "variant 'nf' has no integer model" in err[0] and not out.exists()


def test_refuses_integer_for_another_target(tmp_path, capsys):
    ckpt = checkpoint(tmp_path / "m.ckpt", "1bit_nf")
    out = tmp_path / "bundle"
    assert main(["--target", "lava", "--integer", "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--integer" in err[0] and "'lava'" in err[0] and not out.exists()


def test_the_split_check_refuses_wrong_files_in_one_line(exported, tmp_path, capsys):
    data, ckpt, out = exported
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("not a protobuf")
    other = save_checkpoint(tmp_path / "u.ckpt", "univtg", {"hidden_dim": 16, "num_layers": 1, "num_heads": 2}, DIMS)
    cases = [
        (["--onnx", str(tmp_path / "missing.onnx"), "--checkpoint", str(ckpt)], "option --onnx"),
        (["--onnx", str(not_onnx), "--checkpoint", str(ckpt)], "not an integer graph"),
        (["--onnx", str(out), "--checkpoint", str(other)], "'univtg' model, not SpikingVTG"),
        (["--onnx", str(out), "--checkpoint", str(ckpt), "--limit", "0"], "option --limit"),
    ]
    proto = onnx.load(str(out))
    next(prop for prop in proto.metadata_props if prop.key == "vtg.tc").value = "eight"
    words = tmp_path / "words.onnx"
    onnx.save(proto, str(words))
    cases += [(["--onnx", str(words), "--checkpoint", str(ckpt)], "metadata 'vtg.tc' is 'eight', expected a positive")]
    other_dims = tmp_path / "demo_data"  # the demo preset's feature sizes, not the tiny checkpoint's
    assert vtg_main(["data", "synth", "--out", str(other_dims), "--preset", "demo", "--train", "1", "--val", "1"]) == 0
    capsys.readouterr()
    cases += [(["--onnx", str(out), "--checkpoint", str(ckpt), "--data", str(other_dims)], "video_dim")]
    hosted = checkpoint(tmp_path / "host.ckpt", "1bit_nf", input_mlp=True)  # its graph takes real features
    cases += [(["--onnx", str(out), "--checkpoint", str(hosted)], "input 'video' is tensor(int64) of width 16")]
    for argv, message in cases:
        argv = argv if "--data" in argv else [*argv, "--data", str(data)]
        assert integer_onnx.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)
