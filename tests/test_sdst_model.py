"""SDST end to end on tiny random batches in the layout of docs/ARCHITECTURE.md: forward, loss, predict,
CLRM outputs, padding, configuration errors, presets and parameter counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from test_sdst_batch import (
    TINY_DIMS,
    TINY_MODEL,
    make_batch,
)

from sdst_teacher.sdst.dense_stream import DenseStream
from sdst_teacher.sdst.model import build
from sdst_teacher.sdst.parameters import count_parameters
from vtg.errors import UserError
from vtg.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def tiny(**overrides):
    torch.manual_seed(0)
    return build({**TINY_MODEL, **overrides}, TINY_DIMS)


def test_forward_shapes_and_ranges():
    model = tiny()
    outputs = model(make_batch())
    assert outputs["pred_logits"].shape == (3, 5)
    spans = outputs["pred_spans"]
    assert spans.shape == (3, 5, 2) and torch.all((spans > 0) & (spans < 1))
    assert outputs["pred_actionness"].shape == (3, 5)
    assert outputs["saliency"].shape == (3, 12)
    assert torch.all(outputs["saliency"].abs() <= 1 + 1e-6)
    assert torch.all(outputs["saliency"][1, 7:] == 0)  # padding
    assert [o.shape for o in outputs["level_offsets"]] == [(3, 5, 2, 2)] * 3


def test_registry_builds_sdst_and_loss_backpropagates():
    model = build_model("sdst", dict(TINY_MODEL), TINY_DIMS)
    batch = make_batch()
    losses = model.loss(model(batch), batch)
    assert {"total", "mr", "hd", "align", "act", "saliency", "cls_0", "cls_2"} <= set(losses)
    losses["total"].backward()
    assert model.betas.grad is not None and model.queries.reference_logits.grad is not None


def test_return_hidden_gives_dense_tokens_and_attention_maps():
    model = tiny().eval()
    batch = make_batch()
    outputs = model(batch, return_hidden=True)
    assert len(outputs["hidden_states"]) == 3 and len(outputs["attentions"]) == 3
    for hidden, attention in zip(outputs["hidden_states"], outputs["attentions"]):
        assert hidden.shape == (3, 12, 16)
        assert attention.shape == (3, 2, 12, 12)
        assert torch.allclose(attention.sum(-1), torch.ones(3, 2, 12), atol=1e-5)
        assert torch.all(attention[1, :, :, 7:] == 0)  # padded clips are never attended to
    plain = model(batch)
    assert "hidden_states" not in plain
    assert torch.allclose(plain["pred_logits"], outputs["pred_logits"])


def test_predict_returns_official_dicts():
    model = tiny(num_queries=14).eval()
    batch = make_batch()
    predictions = model.predict(batch, model(batch))
    assert len(predictions) == 3
    for prediction, meta, n in zip(predictions, batch["meta"], (10, 7, 12)):
        assert prediction["qid"] == meta["qid"] and prediction["vid"] == meta["vid"]
        windows = prediction["pred_relevant_windows"]
        assert 0 < len(windows) <= 10
        scores = [w[2] for w in windows]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= st <= ed <= meta["duration"] and 0 <= score <= 1 for st, ed, score in windows)
        assert len(prediction["pred_saliency_scores"]) == n


def test_padding_does_not_change_a_video():
    model = tiny().eval()
    batch = make_batch()
    alone = {
        "video": batch["video"][1:2, :7],
        "video_mask": batch["video_mask"][1:2, :7],
        "text": batch["text"][1:2, :4],
        "text_mask": batch["text_mask"][1:2, :4],
        "meta": batch["meta"][1:2],
    }
    together, single = model(batch), model(alone)
    for key in ("pred_logits", "pred_spans", "pred_actionness"):
        assert torch.allclose(together[key][1], single[key][0], atol=1e-5), key
    assert torch.allclose(together["saliency"][1, :7], single["saliency"][0], atol=1e-5)


def test_single_text_level_serves_every_video_level():
    dims = {**TINY_DIMS, "text_levels": 1}
    model = build(dict(TINY_MODEL), dims)
    batch = make_batch(dims)
    assert model.text_levels == (0, 0, 0)
    model.loss(model(batch), batch)["total"].backward()
    with pytest.raises(UserError, match="text_levels"):
        build(dict(TINY_MODEL), {**TINY_DIMS, "text_levels": 2})


@pytest.mark.parametrize(
    "override,field",
    [
        ({"sparse_attention": "cross"}, "model.sparse_attention"),
        ({"rdsa_points": "l-c"}, "model.rdsa_points"),
        ({"conditioning": "post"}, "model.conditioning"),
        ({"sparse_order": ["ca", "ca"]}, "model.sparse_order"),
        ({"sparse_order": ["ca", "rdsa"]}, "model.sparse_order"),
        ({"levels": [5]}, "model.levels"),
        ({"levels": []}, "model.levels"),
        ({"num_heads": 3}, "model.num_heads"),
        ({"hidden_dim": 18, "num_heads": 2}, "model.hidden_dim"),
        ({"droppath": 1.5}, "model.droppath"),
        ({"shared_levels": "yes"}, "model.shared_levels"),
        ({"num_queries": 0}, "model.num_queries"),
        ({"loss_l1": -1}, "model.loss_l1"),
        ({"temperature": float("inf")}, "model.temperature"),  # the first batch's loss was inf
        ({"rdsa_pionts": "c"}, "model.rdsa_pionts"),
    ],
)
def test_bad_configuration_names_the_field(override, field):
    with pytest.raises(UserError, match=f"field '{field}'"):
        build({**TINY_MODEL, **override}, TINY_DIMS)


def test_bad_dims_and_batches_name_the_field():
    with pytest.raises(UserError, match="field 'video_dim'"):
        build(dict(TINY_MODEL), {**TINY_DIMS, "video_dim": None})
    model = tiny()
    batch = make_batch({**TINY_DIMS, "video_dim": 13})
    with pytest.raises(UserError, match="field 'video'"):
        model(batch)


def test_a_few_steps_fit_a_fixed_batch():
    torch.manual_seed(0)
    model = build({**TINY_MODEL, "dropout": 0.0, "droppath": 0.0}, TINY_DIMS)
    batch = make_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    mr_losses = []
    for _ in range(25):
        torch.manual_seed(1)  # the same sampled positives each step
        losses = model.loss(model(batch), batch)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        mr_losses.append(float(losses["mr"]))
    assert mr_losses[-1] < 0.7 * mr_losses[0]


@pytest.mark.parametrize(
    "name,dims",
    [
        ("sdst_demo", {"video_dim": 64, "text_dim": 64, "video_levels": 3, "text_levels": 3}),
        ("sdst_paper", {"video_dim": 768, "text_dim": 1024, "video_levels": 4, "text_levels": 4}),
    ],
)
def test_presets_build(name, dims):
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    assert config["model"]["name"] == "sdst"
    assert {"epochs", "batch_size", "lr", "weight_decay", "seed"} <= set(config["train"])
    model = build_model("sdst", config["model"], dims)
    counts = count_parameters(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert sum(v for k, v in counts.items() if k != "total") == counts["total"]
    if name == "sdst_paper":
        assert model.config.hidden_dim == 256 and model.config.num_queries == 30 and model.config.roi_size == 16
        assert len(model.levels) == 4 and model.config.deformable_points == 4
        assert 3.5e6 < counts["total"] < 5.5e6  # the paper reports 4.1 M (Table 1, D)
    else:
        batch = make_batch(dims, lengths=(6, 9))
        model.loss(model(batch), batch)["total"].backward()


def test_beta_gate_is_clamped_but_keeps_its_gradient():
    dense, video = torch.full((1, 2, 3), 2.0), torch.full((1, 2, 3), 1.0)
    for value, expected in ((-0.3, 1.0), (0.25, 1.25), (1.7, 2.0)):  # beta = 0, 0.25, 1
        theta = torch.tensor(value, requires_grad=True)
        out = DenseStream.gate(dense, video, theta)
        assert torch.allclose(out, torch.full_like(out, expected))
        out.sum().backward()
        assert float(theta.grad) == pytest.approx(6.0)  # d/dbeta of sum(beta D + (1 - beta) V) = sum(D - V)


def test_count_parameters_by_module_depth():
    model = tiny()
    top = count_parameters(model)
    assert set(top) == {
        "betas",
        "layers",
        "queries",
        "class_head",
        "regression_head",
        "text_pooling",
        "actionness_head",
        "total",
    }
    deep = count_parameters(model, depth=3)
    streams = {k: v for k, v in deep.items() if k.startswith("layers.0.")}
    assert set(streams) == {
        "layers.0.video_proj",
        "layers.0.text_proj",
        "layers.0.dense_stream",
        "layers.0.sparse_stream",
    }
    assert sum(streams.values()) == top["layers"]
    assert deep["layers.0.dense_stream"] == sum(p.numel() for p in model.layers[0].dense_stream.parameters())
    assert deep["total"] == top["total"]
