"""SpikingVTG end to end on a tiny random batch in the layout of docs/ARCHITECTURE.md."""

import pytest
import torch
import torch.nn.functional as F

from spiking.activity import ActivityRecorder, spiking_vtg_probes
from spiking.config import decoder_warmup_steps
from spiking.inputs import InputProjection, sinusoidal_positions
from spiking.model import build
from spiking.quant import quantised_once
from vtg.errors import UserError

DIMS = {"video_dim": 6, "text_dim": 5, "video_levels": 1, "text_levels": 1}
TINY = {"hidden_dim": 8, "num_layers": 2, "num_heads": 2, "ffn_dim": 8, "tc": 3, "f_layers": 2, "d_layers": 2}


def tiny_batch(dtype=torch.float32) -> dict:
    """Two queries: 8 and 6 real clips of 2 s, 4 and 5 real query tokens; windows [4, 10] s and [2, 6] s."""
    torch.manual_seed(0)
    video_mask = torch.ones(2, 8, dtype=torch.bool)
    video_mask[1, 6:] = False
    text_mask = torch.ones(2, 5, dtype=torch.bool)
    text_mask[0, 4:] = False
    foreground, boundary = torch.zeros(2, 8), torch.zeros(2, 8, 2)
    for b, (start, end) in enumerate([(2, 5), (1, 3)]):  # in clips
        foreground[b, start:end] = 1
        for i in range(start, end):
            boundary[b, i] = torch.tensor([i + 0.5 - start, end - i - 0.5])
    return {
        "video": torch.randn(2, 8, 1, 6, dtype=dtype) * video_mask[:, :, None, None],
        "video_mask": video_mask,
        "text": torch.randn(2, 5, 1, 5, dtype=dtype) * text_mask[:, :, None, None],
        "text_mask": text_mask,
        "foreground": foreground,
        "boundary": boundary,
        "saliency": foreground * torch.tensor([0.5, 0.75]).repeat(4)[None],
        "saliency_valid": torch.tensor([True, False]),
        "windows": [torch.tensor([[4.0, 10.0]]), torch.tensor([[2.0, 6.0]])],
        "meta": [
            {"qid": 1, "vid": "a", "query": "q one", "duration": 16.0, "clip_len": 2.0},
            {"qid": 2, "vid": "b", "query": "q two", "duration": 12.0, "clip_len": 2.0},
        ],
    }


@pytest.mark.parametrize("variant", ["base", "nf", "1bit_nf"])
@pytest.mark.parametrize("grad", ["implicit", "bptt"])
def test_forward_loss_predict(variant, grad):
    model = build({"name": "spikingvtg", "variant": variant, "grad": grad, **TINY}, DIMS)
    batch = tiny_batch()
    model.train()
    outputs = model(batch)
    assert outputs["foreground_logits"].shape == (2, 8) and outputs["saliency"].shape == (2, 8)
    assert outputs["boundary"].shape == (2, 8, 2) and (outputs["boundary"] >= 0).all()
    losses = model.loss(outputs, batch)
    assert {"total", "foreground", "boundary", "giou", "saliency_intra", "saliency_inter"} <= set(losses)
    assert torch.isfinite(losses["total"])
    losses["total"].backward()
    grads = [p.grad for p in model.layers[0].parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)

    model.eval()
    with torch.no_grad():
        outputs = model(batch)
    predictions = model.predict(batch, outputs)
    assert [p["qid"] for p in predictions] == [1, 2]
    for prediction, clips, duration in zip(predictions, [8, 6], [16.0, 12.0]):
        windows = prediction["pred_relevant_windows"]
        assert 1 <= len(windows) <= 10
        assert all(0.0 <= st < ed <= duration for st, ed, _ in windows)
        assert [w[2] for w in windows] == sorted((w[2] for w in windows), reverse=True)
        assert len(prediction["pred_saliency_scores"]) == clips


def test_host_input_layer_feeds_the_projections_and_leaves_old_checkpoints_loadable():
    plain = build({"variant": "1bit_nf", **TINY}, DIMS)
    with_layer = build({"variant": "1bit_nf", "input_mlp": True, **TINY}, DIMS)
    # the default adds no key: old files load (the pinned checkpoints of tests/fixtures/spike_pin, strictly:
    # tests/test_spiking_pin.py)
    assert plain.state_dict().keys() < with_layer.state_dict().keys()
    added = with_layer.state_dict().keys() - plain.state_dict().keys()
    assert added == {f"inputs.{m}_host.{i}.{p}" for m in ("video", "text") for i in (0, 1) for p in ("weight", "bias")}
    batch = tiny_batch()
    with_layer.train()
    with_layer.loss(with_layer(batch), batch)["total"].backward()
    assert with_layer.inputs.video_host[1].weight.grad.abs().sum() > 0  # trained through the implicit path
    host = with_layer.inputs.video_host
    x = batch["video"][:, :, -1]
    expected = torch.relu(host[1](torch.nn.functional.layer_norm(x, (6,), host[0].weight, host[0].bias)))
    torch.testing.assert_close(host(x), expected)


def test_activity_counts():
    model = build({"variant": "1bit_nf", **TINY}, DIMS).eval()
    batch = tiny_batch()
    with torch.no_grad():
        activity = model(batch, tc=4, activity=True)["activity"]
    tokens = int(batch["video_mask"].sum() + batch["text_mask"].sum())  # 14 + 9 = 23 real tokens
    clips = int(batch["video_mask"].sum())
    for i in range(2):
        for name in ("input", "k", "v", "attn", "so", "int", "out"):
            entry = activity[f"layer{i}.{name}"]
            assert entry["spikes"].shape == (4,)
            assert entry["neurons"] == tokens * 8
            assert ((entry["spikes"] >= 0) & (entry["spikes"] <= entry["neurons"])).all()
            assert entry["spikes"].sum() == entry["spikes"].round().sum()  # whole spikes, |s| in {0, 1}
    assert activity["layer0.input"]["spikes"].sum() > 0  # the input neurons are driven
    assert torch.equal(activity["layer1.input"]["spikes"], activity["layer0.out"]["spikes"])
    assert activity["layer0.input"]["fan_out"] == 3 * 8 and activity["layer0.out"]["fan_out"] == 0
    assert activity["decoder.input"]["neurons"] == clips * 8
    assert activity["decoder.f.0"]["neurons"] == clips * 8 and activity["decoder.d.0"]["fan_out"] == 3 * 2
    assert activity["sfg"]["spikes"].sum() == 0 and activity["sfg"]["fp_mults"].shape == (4,)


def test_spikes_are_ternary_and_first_gate_is_one():
    model = build({"variant": "1bit_nf", **TINY}, DIMS).eval()
    batch = tiny_batch()
    currents, spikes = [], []
    model.input_lif.register_forward_pre_hook(lambda module, args: currents.append(args[0]))
    model.layers[0].out_lif.register_forward_hook(lambda module, args, out: spikes.append(out))
    with torch.no_grad():
        model(batch, tc=6)
        ctx = model.prepare(batch)
    lv = ctx.video.shape[1]
    expected = ctx.video * batch["video_mask"][:, :, None]  # gate 1 at the first step
    assert torch.allclose(currents[0][:, :lv], expected)
    # once the last layer has fired, SFG gates the video input (until then every clip scores 0: gate 1)
    assert any(not torch.allclose(current[:, :lv], expected) for current in currents[1:])
    assert all(set(s.unique().tolist()) <= {-1.0, 0.0, 1.0} for s in spikes)


def test_sfg_off_gives_a_gate_of_one():
    model = build({"sfg": False, **TINY}, DIMS).eval()
    batch = tiny_batch()
    currents = []
    model.input_lif.register_forward_pre_hook(lambda module, args: currents.append(args[0]))
    with torch.no_grad():
        outputs = model(batch)
        ctx = model.prepare(batch)
    assert torch.equal(outputs["saliency_gate"], batch["video_mask"].float())
    for current in currents:
        assert torch.allclose(current[:, : ctx.video.shape[1]], ctx.video * batch["video_mask"][:, :, None])


def test_without_sfg_the_task_loss_reaches_the_encoder():
    """Without feedback the equilibrium is F(z*) itself, read with its graph: the encoder learns from the heads."""
    torch.manual_seed(0)
    model = build({**TINY, "sfg": False}, DIMS).train()
    batch = tiny_batch()
    model.loss(model(batch), batch)["total"].backward()
    grad = model.layers[0].intermediate.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_min_max_normalisation_of_the_saliency_gate():
    model = build(TINY, DIMS)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    score = torch.tensor([[0.2, 0.5, -0.1, 9.0], [0.3, 0.3, 0.0, 0.0]])
    gate = model.sfg.normalise(score, mask)
    assert torch.allclose(gate, torch.tensor([[0.5, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]))  # flat -> 1


@pytest.mark.parametrize("variant", ["nf", "1bit_nf"])
def test_normalization_free_graph_has_no_softmax_or_layernorm(variant, monkeypatch):
    model = build({"variant": variant, **TINY}, DIMS)
    assert not any(isinstance(m, (torch.nn.LayerNorm, torch.nn.Softmax)) for m in model.modules())

    def forbidden(*args, **kwargs):
        raise AssertionError("softmax or layer_norm called in a normalisation-free model")

    for owner, name in [(torch, "softmax"), (F, "softmax"), (torch.Tensor, "softmax"), (F, "layer_norm")]:
        monkeypatch.setattr(owner, name, forbidden)
    batch = tiny_batch()
    model.train()
    model(batch, return_hidden=True)  # simulation and the steady-state map of the implicit path
    model.eval()
    with torch.no_grad():
        model.predict(batch, model(batch))
    base = build(TINY, DIMS)
    with pytest.raises(AssertionError, match="softmax or layer_norm"):  # the patching does see the base model's
        base(batch)


def test_return_hidden_and_timesteps():
    model = build({"tc": 3, "inference_tc": 2, **{k: v for k, v in TINY.items() if k != "tc"}}, DIMS)
    batch = tiny_batch()
    model.train()
    assert "activity" not in model(batch)  # training records no activity unless asked
    outputs = model(batch, return_hidden=True, activity=True)
    assert len(outputs["hidden_states"]) == 2 and len(outputs["attentions"]) == 2
    assert outputs["hidden_states"][0].shape == (2, 13, 8) and outputs["hidden_states"][0].requires_grad
    assert outputs["attentions"][1].shape == (2, 2, 13, 13)
    assert outputs["activity"]["layer0.k"]["spikes"].shape == (3,)  # config.tc in training
    model.eval()
    with torch.no_grad():
        assert "activity" not in model(batch)  # nor evaluation: prediction has no use for it
        assert model(batch, activity=True)["activity"]["layer0.k"]["spikes"].shape == (2,)  # inference_tc
        model.inference_tc = 5
        assert model(batch, activity=True)["activity"]["layer0.k"]["spikes"].shape == (5,)
        outputs = model(batch, tc=1, return_hidden=True, activity=True)
    assert outputs["activity"]["layer0.k"]["spikes"].shape == (1,)
    assert torch.allclose(outputs["attentions"][0].sum(-1)[:, :, :8], torch.ones(2, 2, 8))  # softmax rows


def steady_map(model, ctx):
    return lambda state: model.steady_state(state, ctx).hidden[-1]


def inverse_of_i_minus_jacobian(model, ctx, z):
    jacobian = torch.autograd.functional.jacobian(steady_map(model, ctx), z, vectorize=True)
    return torch.linalg.inv(torch.eye(z.numel(), dtype=z.dtype) - jacobian.reshape(z.numel(), z.numel()))


def solve_equilibrium(model, ctx, z, inverse=None):
    """The steady-state map's fixed point (the tiny map is not always a contraction, so no plain iteration):
    Newton's method with step halving, or the chord method with a given (I - J)^{-1} when starting next to
    the solution."""
    fn = steady_map(model, ctx)
    with torch.no_grad():
        residual = fn(z) - z
    for _ in range(60):
        if residual.norm() < 1e-13:
            break
        matrix = inverse if inverse is not None else inverse_of_i_minus_jacobian(model, ctx, z)
        step = (matrix @ residual.reshape(-1)).reshape(z.shape)
        with torch.no_grad():
            for _ in range(30):  # halve the step until the residual decreases
                candidate = z + step
                candidate_residual = fn(candidate) - candidate
                if candidate_residual.norm() < residual.norm():
                    break
                step = step / 2
        z, residual = candidate, candidate_residual
    assert residual.norm() < 1e-11
    return z


def test_implicit_gradient_matches_finite_differences_of_the_equilibrium_loss():
    """Tolerance: relative error below 1e-5 in float64 (central differences with step 1e-6).

    The seed gives an equilibrium where SFG gates the clips to spread values, so the feedback matters:
    the gradient without the implicit correction (Jacobian-free, y = g) is checked to be wrong there.
    """
    torch.manual_seed(1)
    small = {**TINY, "num_layers": 1, "f_layers": 1, "d_layers": 1, "threshold": 2.0}
    model = build({"variant": "nf", "solver_iters": 60, "solver_tol": 1e-12, **small}, DIMS)
    model.double().train()
    batch = tiny_batch(torch.float64)
    with torch.no_grad():
        ctx = model.prepare(batch)
        _, z_sim = model.simulate(ctx, 8)
    z_star = solve_equilibrium(model, ctx, z_sim)
    inverse = inverse_of_i_minus_jacobian(model, ctx, z_star)
    checked = [
        ("sfg.pool.weight", (0, 3)),  # reaches the loss through the gate's feedback and the saliency
        ("layers.0.attention.key.weight", (1, 4)),
        ("layers.0.output.bias", (5,)),
    ]
    parameters = dict(model.named_parameters())

    def analytic(solver_iters: int) -> list[float]:
        model.implicit.max_iter = solver_iters
        model.zero_grad()
        ctx = model.prepare(batch)
        outputs = model.at_equilibrium(ctx, z_star)
        outputs["sentence"] = ctx.sentence
        model.loss(outputs, batch)["total"].backward()
        return [float(parameters[name].grad[index]) for name, index in checked]

    def equilibrium_loss() -> float:
        with torch.no_grad():
            ctx = model.prepare(batch)
            outputs = model.at_equilibrium(ctx, solve_equilibrium(model, ctx, z_star, inverse))
            outputs["sentence"] = ctx.sentence
            return float(model.loss(outputs, batch)["total"])

    numeric = []
    for name, index in checked:
        parameter = parameters[name]
        with torch.no_grad():
            original = parameter[index].item()
            parameter[index] = original + 1e-6
            plus = equilibrium_loss()
            parameter[index] = original - 1e-6
            minus = equilibrium_loss()
            parameter[index] = original
        numeric.append((plus - minus) / 2e-6)

    implicit = analytic(solver_iters=60)
    assert model.implicit.last_residual < 1e-10
    for (name, _), a, n in zip(checked, implicit, numeric):
        assert abs(a - n) <= 1e-5 * max(abs(n), 1e-3), (name, a, n)
    jacobian_free = analytic(solver_iters=0)
    assert max(abs(a - n) / max(abs(n), 1e-3) for a, n in zip(jacobian_free, numeric)) > 1e-3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tc", 0, "field 'model.tc': must be >= 1"),
        ("variant", "2bit", "field 'model.variant'"),
        ("activation", "tanh", "field 'model.activation'"),
        ("grad", "adjoint", "field 'model.grad'"),
        ("num_heads", 3, "field 'model.hidden_dim'"),
        ("leak", 1.5, "field 'model.leak'"),
        ("threshold", 0, "field 'model.threshold'"),
        ("sfg", "yes", "field 'model.sfg'"),
        ("f_kernel", 2, "field 'model.f_kernel'"),
        ("inference_tc", 0, "field 'model.inference_tc'"),
        ("tc_min", 4, "field 'model.tc_min': must be between 1 and tc=3"),
        ("fire_ratio", 0, "field 'model.fire_ratio'"),
        ("fire_ratio", 0.3, "field 'model.fire_ratio': must be in \\[0.5, 1\\]"),  # would alternate +1, -1
        ("train_readout", "mean", "field 'model.train_readout'"),
        ("decoder_warmup", 1.0, "field 'model.decoder_warmup': must be in"),
        ("initial_gate", 1.5, "field 'model.initial_gate': must be in"),
        ("rate_driven", "yes", "field 'model.rate_driven'"),
        ("dropout", 0.1, "field 'model.dropout': unknown option"),
    ],
)
def test_bad_config_raises_user_error_naming_the_field(field, value, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        build({**TINY, field: value}, DIMS)


def test_init_gains_scale_every_weight_but_the_sentence_pooling():
    torch.manual_seed(0)
    plain = build({"variant": "1bit_nf", **TINY}, DIMS)
    torch.manual_seed(0)
    scaled = build({"variant": "1bit_nf", "init_gain": 3.0, "input_init_gain": 5.0, **TINY}, DIMS)
    for (name, a), (_, b) in zip(plain.named_parameters(), scaled.named_parameters()):
        if name.endswith("weight") and not name.startswith("sfg."):
            assert torch.allclose(b, (5 if name.startswith("inputs.") else 3) * a), name
        else:
            assert torch.equal(a, b), name  # biases and W_p
    batch = tiny_batch()
    plain.eval(), scaled.eval()
    with torch.no_grad():
        activities = [m(batch, activity=True)["activity"] for m in (plain, scaled)]
        rates = [sum(float(a["spikes"].sum()) for a in activity.values()) for activity in activities]
    assert rates[1] > rates[0]  # larger currents, more spikes


def test_simulated_readout_trains_on_the_simulation_with_the_maps_gradient():
    """train_readout: simulated gives the loss the values evaluation reads and the steady-state map's gradient."""
    torch.manual_seed(0)
    simulated = build({**TINY, "variant": "1bit_nf", "train_readout": "simulated"}, DIMS).train()
    steady = build({**TINY, "variant": "1bit_nf"}, DIMS).train()
    steady.load_state_dict(simulated.state_dict())
    batch = tiny_batch()
    outputs = simulated(batch)
    with torch.no_grad():
        deployed = simulated.simulate(simulated.prepare(batch), TINY["tc"], activity=False)[0]
    for key in ("foreground_logits", "boundary", "saliency_gate"):
        assert torch.equal(outputs[key], deployed[key]), key
    reference = steady(batch)
    assert not torch.equal(reference["foreground_logits"], deployed["foreground_logits"])
    # d/dtheta of sum(output) is the map's in both: only the values differ
    outputs["foreground_logits"].sum().backward()
    reference["foreground_logits"].sum().backward()
    for (name, a), b in zip(simulated.named_parameters(), steady.parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_equilibrium_outputs_are_read_where_the_simulation_reads_them():
    """At the simulation's last-layer ASR z, the map's saliency, gate and video features are the simulation's,
    and its decoders read z itself: F(z) (one application further) would give other values."""
    torch.manual_seed(0)
    model = build({**TINY, "variant": "nf"}, DIMS).eval()
    batch = tiny_batch()
    with torch.no_grad():
        ctx = model.prepare(batch)
        deployed, z = model.simulate(ctx, TINY["tc"], activity=False)  # z: (B, L, D)
        outputs = model.equilibrium_outputs(z, ctx)
        further = model.equilibrium_outputs(model.steady_state(z, ctx).hidden[-1], ctx)
    for key in ("saliency", "saliency_gate", "video_features"):
        assert torch.allclose(outputs[key], deployed[key], atol=1e-6), key
    assert not torch.allclose(further["saliency"], deployed["saliency"], atol=1e-3)
    assert not torch.allclose(further["foreground_logits"], outputs["foreground_logits"], atol=1e-3)


def test_training_tc_is_drawn_between_tc_min_and_tc():
    model = build({**TINY, "tc": 5, "tc_min": 2}, DIMS).train()
    torch.manual_seed(0)
    drawn = {model.training_tc() for _ in range(200)}
    assert drawn == {2, 3, 4, 5}
    outputs = model(tiny_batch(), activity=True)
    assert 2 <= outputs["activity"]["layer0.k"]["spikes"].shape[0] <= 5
    assert build({**TINY, "tc": 5}, DIMS).training_tc() == 5


def test_both_readouts_average_the_two_losses():
    torch.manual_seed(0)
    both = build({**TINY, "variant": "1bit_nf", "train_readout": "both"}, DIMS).train()
    batch = tiny_batch()
    outputs = both(batch)
    assert set(outputs["simulated"]) >= {"foreground_logits", "boundary", "saliency", "video_features"}
    losses = both.loss(outputs, batch)
    on_map = both.criterion(outputs, batch)
    on_simulation = both.criterion({**outputs, **outputs["simulated"]}, batch)
    assert torch.allclose(losses["total"], (on_map["total"] + on_simulation["total"]) / 2)
    assert not torch.allclose(on_map["total"], on_simulation["total"])
    losses["total"].backward()
    assert both.inputs.video.weight.grad is not None


@pytest.mark.parametrize("variant", ["nf", "1bit_nf"])
def test_decoders_run_layer_by_layer_give_the_steps_spikes_and_read_outs(variant):
    """simulate() decodes all steps at once (SpikingConvDecoder.run); step-by-step decoding is the reference."""
    torch.manual_seed(0)
    model = build({**TINY, "variant": variant, "init_gain": 3.0, "f_layers": 3, "d_layers": 3}, DIMS).eval()
    batch = tiny_batch()
    with torch.no_grad():
        ctx = model.prepare(batch)
        outputs, _ = model.simulate(ctx, 4)
        foreground, boundary = 0.0, 0.0
        with quantised_once(model), ActivityRecorder(spiking_vtg_probes(model, ctx.token_mask, ctx.video_mask)) as rec:
            for out in model.steps(ctx, 4):  # decode=True: the decoders inside every step
                foreground, boundary = foreground + out.foreground, boundary + out.boundary
    activity = rec.result()
    decoder_probes = [name for name in activity if name.startswith(("decoder.f", "decoder.d"))]
    assert decoder_probes and any(activity[name]["spikes"].sum() > 0 for name in decoder_probes)
    for name, entry in activity.items():
        assert torch.equal(entry["spikes"], outputs["activity"][name]["spikes"]), name
    assert torch.allclose(outputs["foreground_logits"], foreground / 4, atol=1e-6)
    assert torch.allclose(outputs["boundary"], F.softplus(boundary / 4), atol=1e-6)


def test_initial_gate_scales_the_first_steps_video_input_only():
    """initial_gate g0: the first step's input current is [g0 V; Q]; from the second step SFG's gate."""
    torch.manual_seed(0)
    config = {**TINY, "variant": "1bit_nf", "init_gain": 3.0, "tc": 4}
    models = {g0: build({**config, "initial_gate": g0}, DIMS).eval() for g0 in (1.0, 0.25)}
    models[0.25].load_state_dict(models[1.0].state_dict())
    batch = tiny_batch()
    currents = {}
    for g0, model in models.items():
        seen = []
        hook = model.input_lif.register_forward_pre_hook(lambda _, args, seen=seen: seen.append(args[0].clone()))
        with torch.no_grad():
            ctx = model.prepare(batch)
            model.simulate(ctx, 4)
        hook.remove()
        currents[g0] = seen  # per step (B, L, D)
    lv = batch["video_mask"].shape[1]
    first_full, first_gated = currents[1.0][0], currents[0.25][0]
    assert torch.allclose(first_gated[:, :lv], 0.25 * first_full[:, :lv])  # the video tokens, gated by g0
    assert torch.equal(first_gated[:, lv:], first_full[:, lv:])  # the text tokens, never gated
    assert not torch.allclose(currents[0.25][1], currents[1.0][1])  # the spikes of step 1 differ, so SFG's gate


def test_decoder_warmup_skips_the_first_steps_of_the_encoder():
    """decoder_warmup w: the decoders run from rest on the encoder's steps ceil(w Tc) + 1 .. Tc."""
    torch.manual_seed(0)
    config = {**TINY, "variant": "1bit_nf", "init_gain": 3.0, "tc": 8, "decoder_warmup": 0.25}
    warm = build(config, DIMS).eval()
    cold = build({**config, "decoder_warmup": 0.0}, DIMS).eval()
    cold.load_state_dict(warm.state_dict())
    batch = tiny_batch()
    with torch.no_grad():
        ctx = warm.prepare(batch)
        outputs, _ = warm.simulate(ctx, 8)
        reference, _ = cold.simulate(ctx, 8)
        spikes = []
        with quantised_once(cold):
            for out in cold.steps(ctx, 8, decode=False):
                spikes.append(out.hidden[-1][:, :8])
            late = cold.decode(spikes[2:], ctx)  # ceil(0.25 x 8) = 2 steps skipped
    for key in ("foreground_logits", "boundary"):
        assert torch.allclose(outputs[key], late[key], atol=1e-6), key
        assert not torch.allclose(outputs[key], reference[key], atol=1e-3), key
    assert torch.equal(outputs["saliency"], reference["saliency"])  # the encoder and SFG are untouched
    for name, entry in outputs["activity"].items():
        assert entry["spikes"].shape == (8,), name
        if name.startswith("decoder."):
            assert entry["spikes"][:2].sum() == 0 and entry["spikes"][2:].sum() > 0, name
    steps = {tc: warm.config.decoder_warmup_steps(tc) for tc in (1, 2, 3, 5, 16)}
    assert steps == {1: 0, 2: 1, 3: 1, 5: 2, 16: 4}  # rounded up, at most Tc - 1
    assert decoder_warmup_steps(0.3, 10) == 3 and decoder_warmup_steps(0.0, 8) == 0


def test_rate_driven_currents_have_the_maps_currents_at_the_running_rates():
    """model.rate_driven: after t steps the gamma-weighted mean current of the input neurons is this step's
    [g V; Q], and each intermediate layer's is act(W_int a_so + b_int) at the self-output's rate a_so (what
    the steady-state map computes, Eq. 4); with the paper's currents (act of each step's spikes) it is not."""
    torch.manual_seed(0)
    config = {**TINY, "variant": "1bit_nf", "init_gain": 3.0, "fire_ratio": 0.5}
    models = {flag: build({**config, "rate_driven": flag}, DIMS).eval() for flag in (True, False)}
    models[False].load_state_dict(models[True].state_dict())
    batch, tc, gamma = tiny_batch(), 6, 0.99
    weights = torch.tensor([gamma ** (tc - 1 - t) for t in range(tc)])
    weights = weights / weights.sum()
    gaps = {}
    for flag, model in models.items():
        layer = model.layers[0]
        seen = {"input": [], "int": []}
        hooks = [
            model.input_lif.register_forward_pre_hook(lambda _, args, seen=seen: seen["input"].append(args[0].clone())),
            layer.int_lif.register_forward_pre_hook(lambda _, args, seen=seen: seen["int"].append(args[0].clone())),
        ]
        with torch.no_grad(), quantised_once(model):
            ctx = model.prepare(batch)
            gate = None
            for out in model.steps(ctx, tc, decode=False):
                gate, previous_gate = out.gate, gate
            expected_int = layer.activation(layer.intermediate(layer.so_lif.rate))  # (B, L, F)
        for hook in hooks:
            hook.remove()
        mean = {name: sum(w * c for w, c in zip(weights, currents)) for name, currents in seen.items()}
        expected_input = torch.cat([ctx.video * previous_gate[:, :, None], ctx.text], 1) * ctx.token_mask[:, :, None]
        tokens = ctx.token_mask[:, :, None]
        gaps[flag] = (
            float(((mean["input"] - expected_input) * tokens).abs().max()),
            float(((mean["int"] - expected_int) * tokens).abs().max()),
        )
    assert max(gaps[True]) < 1e-4
    assert min(gaps[False]) > 1e-2  # the paper's currents: the mean of the step's values, not the map's


def test_clip_positions_are_float32_under_mixed_precision():
    """bf16 holds 8 significant bits: positions computed in it were off by up to 1 and equal above 256."""
    projection = InputProjection(6, 5, 16, binary=False)
    video, text = torch.randn(1, 300, 6), torch.randn(1, 4, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v, _ = projection(video, text)
        projected = projection.video(video)  # (1, 300, 16) bf16
    expected = (projected.float() + sinusoidal_positions(300, 16)).to(torch.bfloat16)
    assert v.dtype == torch.bfloat16 and torch.equal(v, expected)
