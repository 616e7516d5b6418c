"""vtg-export --target onnx: the step model's contract, onnxruntime against PyTorch, 1-bit weights, refusals."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from export_support import as_batch, features, spiking_checkpoint, write_checkpoint

from export import onnx_target
from export.command import main
from export.step_module import FEATURE_INPUTS, OUTPUTS, StepModule
from vtg.checkpoint import load_model


def export_onnx(checkpoint, out, *extra):
    return main(["--target", "onnx", "--checkpoint", str(checkpoint), "--out", str(out), *extra])


def run_steps(path, inputs: dict[str, torch.Tensor], tc: int, config) -> list[dict]:
    """A runtime's loop over the file at ``path``: the state at rest for Tc (the file's metadata names it; the
    model's ``config`` gives g0 and the warm-up), Tc calls, state fed back."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = {prop.key: prop.value for prop in onnx.load(str(path)).metadata_props}
    state_names = list(json.loads(meta["vtg.state"]))
    assert float(meta["vtg.decoder_warmup"]) == config.decoder_warmup
    feed = {name: inputs[name].numpy() for name in FEATURE_INPUTS}
    shapes = {arg.name: arg.shape for arg in session.get_inputs()}
    batch, clips = inputs["video_mask"].shape
    sizes = {"batch": batch, "clips": clips, "query": inputs["text_mask"].shape[1]}
    sizes["tokens"] = sizes["clips"] + sizes["query"]
    for name in state_names:
        feed[name] = np.zeros([sizes.get(d, d) for d in shapes[name]], np.float32)
    feed["state_in.gate"] = config.initial_gate * inputs["video_mask"].numpy().astype(np.float32)
    feed["state_in.warmup"][:] = config.decoder_warmup_steps(tc)
    names = [arg.name for arg in session.get_outputs()]
    steps = []
    for _ in range(tc):
        results = dict(zip(names, session.run(None, feed)))
        feed.update({name: results[name.replace("state_in.", "state_out.")] for name in state_names})
        steps.append(results)
    return steps


# the presets' switches: the rounding firing point, the decoders' warm-up, the first step's gate, the rate-driven
# currents and the host input layer
PRESET = {"fire_ratio": 0.5, "decoder_warmup": 0.25, "initial_gate": 0.25, "rate_driven": True, "input_mlp": True}
CASES = [("nf", {}), ("1bit_nf", {}), ("1bit_nf", {"fire_ratio": 0.5}), ("1bit_nf", PRESET), ("base", PRESET)]
CASES.append(("nf", {"rate_driven": True}))  # the rate-driven state alone, without the warm-up


@pytest.mark.parametrize(("variant", "overrides"), CASES)
def test_step_module_over_tc_is_the_model(tmp_path, variant, overrides):
    model, _ = load_model(spiking_checkpoint(tmp_path / "m.ckpt", variant, **overrides))
    step = StepModule(model)
    inputs = features(2, 7, 5)
    with torch.no_grad():
        reference = model(as_batch(inputs), tc=4)
        state = step.initial_state(inputs["video_mask"], inputs["text_mask"], tc=4)
        calls = []
        for _ in range(4):
            outputs, spikes, state = step.split(step(*inputs.values(), *state))
            calls.append(spikes)
    for name in OUTPUTS:
        torch.testing.assert_close(outputs[name], reference[name], atol=1e-5, rtol=0)
    # the highlight score the metadata names: sigmoid(f) + state_out.gate after the last call
    torch.testing.assert_close(state[step.state_names.index("gate")], reference["saliency_gate"], atol=1e-6, rtol=0)
    with torch.no_grad():  # a pure function of its inputs: the caller's state is left as given
        given = [t.clone() for t in state]
        once, twice = step(*inputs.values(), *state), step(*inputs.values(), *state)
    assert all(torch.equal(a, b) for a, b in zip(given, state)) and all(map(torch.equal, once, twice))
    assert set(spikes) == {name.removeprefix("spikes.") for name in step.spike_names}
    assert all(set(s.unique().tolist()) <= {-1.0, 0.0, 1.0} for s in spikes.values())
    assert any((s == -1).any() for s in spikes.values())  # ternary spikes do occur
    fire_ratio = overrides.get("fire_ratio", 1.0)
    assert all(neuron.fire_ratio == fire_ratio for neuron in step.populations.values())
    # the decoders read from step k + 1 on (k = ceil(0.25 x 4) = 1 with the warm-up), from rest
    warmup = model.config.decoder_warmup_steps(4)
    decoder_spikes = [sum(s[name].abs().sum() for name in step.decoder_populations) for s in calls]
    assert all(count == 0 for count in decoder_spikes[:warmup]) and all(c > 0 for c in decoder_spikes[warmup:])
    # the first step from rest fires at the firing point and subtracts Vth: u = I - Vth s with
    # s = [I >= r Vth] - [I <= -r Vth] (Vth = 0.5, so I = u + Vth s is exact in float32)
    threshold = model.config.threshold
    with torch.no_grad():
        state = step.initial_state(inputs["video_mask"], inputs["text_mask"], tc=4)
        _, first, after = step.split(step(*inputs.values(), *state))
    current = after[0] + threshold * first["input"]  # mem.input is the first state: u = I - Vth s
    expected = (current >= fire_ratio * threshold).float() - (current <= -fire_ratio * threshold).float()
    assert torch.equal(first["input"], expected) and first["input"].abs().sum() > 0


@pytest.mark.parametrize(("variant", "overrides"), CASES[:4])
def test_onnxruntime_runs_the_exported_model_like_pytorch(tmp_path, capsys, variant, overrides):
    # one encoder layer keeps the trace short; the step module's chaining of layers is tested above
    checkpoint = spiking_checkpoint(tmp_path / "m.ckpt", variant, num_layers=1, **overrides)
    out = tmp_path / "deploy" / "model.onnx"
    assert export_onnx(checkpoint, out, "--tc", "5", "--json") == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out)["out"] == str(out)  # stdout: the one JSON object, the check on stderr
    for name in (*OUTPUTS, "spikes"):
        assert name in printed.err
    onnx.checker.check_model(str(out))
    meta = {prop.key: prop.value for prop in onnx.load(str(out)).metadata_props}
    assert meta["vtg.tc"] == "5" and meta["vtg.variant"] == variant

    # other sizes than traced or checked (dynamic axes), free-running for Tc steps like a runtime
    model, _ = load_model(checkpoint)
    inputs = features(1, 9, 4) | {"video_mask": torch.ones(1, 9, dtype=torch.bool)}
    # outputs after call t are the model's at Tc = t (with the decoders' warm-up, for the Tc the state was made for)
    tcs = (1, 5) if not model.config.decoder_warmup else (5,)
    runs = {tc: run_steps(out, inputs, tc, model.config) for tc in tcs}
    with torch.no_grad():
        for tc, steps in runs.items():
            reference = model(as_batch(inputs), tc=tc)
            for name in OUTPUTS:
                np.testing.assert_allclose(steps[-1][name], reference[name].numpy(), atol=1e-4, rtol=0)
    assert runs[5][-1]["spikes.layer0.out"].shape == (1, 13, model.config.hidden_dim)

    # 1-bit layers are plain float weights of two values +-beta (the projections, the encoder's linears and
    # the decoders' convolutions); SFG's W_p (D, 1) and the host input layers stay real
    matrices = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer if len(t.dims) >= 2]
    host_shapes = {(d, d) for d in (model.inputs.video.in_features, model.inputs.text.in_features)}  # D_in != D
    host = [w for w in matrices if w.shape in host_shapes]
    weights = [w for w in matrices if w.shape not in {(model.config.hidden_dim, 1), *host_shapes}]
    assert len(host) == (2 if model.config.host_input_layers else 0) and len(weights) == 2 + 6 + 3 + 2
    magnitudes = [len(np.unique(np.abs(w))) for w in weights]
    assert all(m == 1 for m in magnitudes) if variant == "1bit_nf" else all(m > 2 for m in magnitudes)
    assert all((w > 0).any() and (w < 0).any() for w in [*host, *weights])


def test_a_graph_that_disagrees_with_pytorch_is_refused_and_not_written(tmp_path, capsys, monkeypatch):
    to_onnx = onnx_target.to_onnx

    def corrupted(step, tc):
        proto = to_onnx(step, tc)
        bias = next(t for t in proto.graph.initializer if t.name.endswith("layers.0.self_output.bias"))
        bias.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(bias) + 0.3, bias.name))
        return proto

    monkeypatch.setattr(onnx_target, "to_onnx", corrupted)
    out = tmp_path / "model.onnx"
    assert export_onnx(spiking_checkpoint(tmp_path / "m.ckpt", "nf", num_layers=1), out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "differs from PyTorch beyond the tolerance" in err[-1] and str(out) in err[-1]
    assert not out.exists()


def test_refusals_are_one_line(tmp_path, capsys):
    teacher = write_checkpoint(tmp_path / "u.ckpt", "univtg", hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=16)
    spiking = spiking_checkpoint(tmp_path / "m.ckpt", "nf")
    cases = [
        ((teacher, tmp_path / "a.onnx"), "model 'univtg' is not spiking"),
        ((spiking, tmp_path / "b.onnx", "--tc", "0"), "option --tc"),
        ((spiking, tmp_path), "option --out"),
        ((spiking, tmp_path / "c.onnx", "--max-clips", "9"), "option --max-clips: the float ONNX step model"),
    ]
    for args, message in cases:
        assert export_onnx(*args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
