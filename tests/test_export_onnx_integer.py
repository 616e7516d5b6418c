"""vtg-export --target onnx --integer: the integer graph of 1-bit NF equals the integer reference exactly."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from checkpoint_support import save_checkpoint

from export import integer_onnx
from export.command import main

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


@pytest.mark.parametrize(
    ("variant", "overrides", "message"),
    [
        ("nf", {}, "variant 'nf' has no integer model"),
        ("1bit_nf", {"decoder_warmup": 0.25}, "field 'model.decoder_warmup' is 0.25"),
        ("1bit_nf", {"input_mlp": True}, "field 'model.input_mlp' is true"),
    ],
)
def test_refuses_what_the_integer_graph_does_not_hold(tmp_path, capsys, variant, overrides, message):
    ckpt = checkpoint(tmp_path / "m.ckpt", variant, **overrides)
    out = tmp_path / "model.onnx"
    assert main(["--target", "onnx", "--integer", "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and not out.exists()


def test_refuses_integer_for_another_target(tmp_path, capsys):
    ckpt = checkpoint(tmp_path / "m.ckpt", "1bit_nf")
    out = tmp_path / "bundle"
    assert main(["--target", "lava", "--integer", "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--integer" in err[0] and "'lava'" in err[0] and not out.exists()
