"""The UniVTG-style teacher on tiny hand-built batches in the ARCHITECTURE.md layout."""

from __future__ import annotations

import math

import pytest
import torch

from sdst_teacher.univtg.model import build
from vtg.errors import UserError
from vtg.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)

DIMS = {"video_dim": 12, "text_dim": 10, "video_levels": 2, "text_levels": 1}
SMALL = {"name": "univtg", "hidden_dim": 16, "num_layers": 4, "num_heads": 2, "ffn_dim": 32}


def make_batch(video_lengths: list[int], text_lengths: list[int], lv: int, lq: int, seed: int = 0) -> dict:
    """A batch as collate makes it: padding holds random values, so only the masks say what is real."""
    g = torch.Generator().manual_seed(seed)
    b = len(video_lengths)
    video_mask = torch.arange(lv)[None, :] < torch.tensor(video_lengths)[:, None]  # (B, Lv)
    text_mask = torch.arange(lq)[None, :] < torch.tensor(text_lengths)[:, None]  # (B, Lq)
    foreground = torch.zeros(b, lv)
    boundary = torch.zeros(b, lv, 2)
    for i in range(b):
        st, ed = 1, min(4, video_lengths[i])  # relevant window [1, ed) in clip units
        for c in range(st, ed):
            foreground[i, c] = 1.0
            boundary[i, c] = torch.tensor([c + 0.5 - st, ed - (c + 0.5)])
    saliency = foreground * torch.rand(b, lv, generator=g)
    return {
        "video": torch.randn(b, lv, 2, DIMS["video_dim"], generator=g),
        "video_mask": video_mask,
        "text": torch.randn(b, lq, 1, DIMS["text_dim"], generator=g),
        "text_mask": text_mask,
        "foreground": foreground,
        "boundary": boundary,
        "saliency": saliency,
        "saliency_valid": torch.tensor([i % 3 != 2 for i in range(b)]),
        "windows": [torch.tensor([[2.0, 2.0 * min(4, n)]]) for n in video_lengths],
        "meta": [
            {"qid": i, "vid": f"v{i}", "query": f"query {i}", "duration": 2.0 * n, "clip_len": 2.0}
            for i, n in enumerate(video_lengths)
        ],
    }


def small_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build({**SMALL, **overrides}, DIMS)


def test_registry_builds_the_teacher():
    model = build_model("univtg", dict(SMALL), DIMS)
    assert type(model).__name__ == "UniVTG"


def test_forward_shapes_and_boundary_range():
    batch = make_batch([6, 4, 5], [4, 3, 2], lv=6, lq=4)
    outputs = small_model()(batch)
    assert outputs["foreground_logits"].shape == (3, 6)
    assert outputs["boundary"].shape == (3, 6, 2)
    assert outputs["saliency"].shape == (3, 6)
    assert (outputs["boundary"] >= 0).all()
    assert (outputs["boundary"] <= torch.tensor([6.0, 4.0, 5.0])[:, None, None]).all()  # within the real clips
    assert (outputs["saliency"].abs() <= 1 + 1e-6).all()
    assert (outputs["saliency"][~batch["video_mask"]] == 0).all()
    assert "hidden_states" not in outputs


def test_loss_is_finite_and_every_parameter_gets_a_gradient():
    batch = make_batch([6, 4, 5], [4, 3, 2], lv=6, lq=4)
    model = small_model()
    losses = model.loss(model(batch), batch)
    assert set(losses) == {"total", "boundary", "giou", "foreground", "saliency_inter", "saliency_intra"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["saliency_intra"] > 0 and losses["saliency_inter"] > 0
    losses["total"].backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


def test_training_steps_reduce_the_loss():
    batch = make_batch([6, 5], [4, 4], lv=6, lq=4)
    model = small_model(input_dropout=0.0, droppath=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(20):
        loss = model.loss(model(batch), batch)["total"]
        first = float(loss) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.5 * first


def test_interval_only_queries_rank_their_foreground_clips():
    batch = make_batch([6, 4], [4, 3], lv=6, lq=4)
    model = small_model().eval()
    outputs = model(batch)
    batch["saliency_valid"][:] = False
    as_labels = dict(batch, saliency=batch["foreground"].clone(), saliency_valid=torch.tensor([True, True]))
    fallback, explicit = model.loss(outputs, batch), model.loss(outputs, as_labels)
    for key in ["saliency_inter", "saliency_intra"]:
        assert float(fallback[key]) > 0 and torch.allclose(fallback[key], explicit[key])


def test_no_positive_clip_gives_zero_saliency_losses_with_a_graph():
    batch = make_batch([6, 4], [4, 3], lv=6, lq=4)
    batch["saliency_valid"][:] = False
    batch["foreground"].zero_()
    batch["boundary"].zero_()
    model = small_model()
    losses = model.loss(model(batch), batch)
    assert float(losses["saliency_inter"]) == 0.0 and float(losses["saliency_intra"]) == 0.0
    assert float(losses["boundary"]) == 0.0 and float(losses["giou"]) == 0.0
    for name in ("boundary", "giou", "saliency_inter", "saliency_intra"):  # zeros of the graph, not constants
        assert losses[name].grad_fn is not None, name
    losses["total"].backward()


def test_hidden_states_and_attentions_layout():
    batch = make_batch([6, 4], [4, 3], lv=6, lq=4)
    outputs = small_model()(batch, return_hidden=True)
    hidden, attentions = outputs["hidden_states"], outputs["attentions"]
    assert len(hidden) == 4 and len(attentions) == 4
    assert all(h.shape == (2, 10, 16) for h in hidden)
    assert all(a.shape == (2, 2, 10, 10) for a in attentions)
    # video first: the last layer's first Lv tokens are what the heads read
    assert torch.equal(hidden[-1][:, :6], outputs["video_features"])


@pytest.mark.parametrize("train", [False, True])
def test_attention_rows_sum_to_one_over_real_keys(train):
    batch = make_batch([6, 4], [4, 3], lv=6, lq=4)
    model = small_model(dropout=0.5)
    model.train(train)
    attentions = model(batch, return_hidden=True)["attentions"]
    keys = torch.cat([batch["video_mask"], batch["text_mask"]], dim=1)  # (B, L)
    for probs in attentions:
        assert torch.allclose(probs.sum(-1), torch.ones(2, 2, 10), atol=1e-5)
        assert (probs.masked_select(~keys[:, None, None, :].expand_as(probs)) == 0).all()


def test_padding_does_not_change_real_outputs():
    model = small_model().eval()
    tight = make_batch([5], [3], lv=5, lq=3, seed=1)
    padded = make_batch([5], [3], lv=9, lq=6, seed=2)  # random values in the padding
    padded["video"][:, :5] = tight["video"]
    padded["text"][:, :3] = tight["text"]
    a, b = model(tight, return_hidden=True), model(padded, return_hidden=True)
    for key in ["foreground_logits", "boundary", "saliency"]:
        assert torch.allclose(a[key], b[key][:, :5], atol=1e-5), key
    real = torch.tensor([0, 1, 2, 3, 4, 9, 10, 11])  # real tokens of the padded layout (Lv = 9)
    for h_a, h_b, p_a, p_b in zip(a["hidden_states"], b["hidden_states"], a["attentions"], b["attentions"]):
        assert torch.allclose(h_a, h_b[:, real], atol=1e-5)
        assert torch.allclose(p_a, p_b[:, :, real][:, :, :, real], atol=1e-5)


def test_predict_official_format():
    batch = make_batch([6, 4, 5], [4, 3, 2], lv=6, lq=4)
    model = small_model().eval()
    outputs = model(batch)
    predictions = model.predict(batch, outputs)
    assert [p["qid"] for p in predictions] == [0, 1, 2]
    for p, n in zip(predictions, [6, 4, 5]):
        assert set(p) == {"qid", "query", "vid", "pred_relevant_windows", "pred_saliency_scores"}
        assert len(p["pred_saliency_scores"]) == n
        assert 1 <= len(p["pred_relevant_windows"]) <= 10
        scores = [w[2] for w in p["pred_relevant_windows"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= st <= ed <= 2.0 * n for st, ed, _ in p["pred_relevant_windows"])


def test_wrong_feature_dimension_is_a_user_error():
    batch = make_batch([4], [3], lv=4, lq=3)
    batch["video"] = batch["video"][..., :7]
    with pytest.raises(UserError, match="video_dim"):
        small_model()(batch)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hidden_dim", 15, "num_heads"),
        ("num_layers", 0, "at least 1"),
        ("head_kernel", 4, "odd"),
        ("dropout", 1.0, r"\[0, 1\)"),
        ("temperature", 0.0, "> 0"),
        ("ffn_dim", 3.5, "integer"),
        ("loss_giou", "x", "number"),
        ("hiden_dim", 8, "unknown option"),
    ],
)
def test_bad_config_fields_name_the_field(field, value, message):
    with pytest.raises(UserError, match=rf"model\.{field}'.*{message}"):
        build({**SMALL, field: value}, DIMS)


def test_sinusoidal_positions_match_the_formula():
    from sdst_teacher.univtg.embeddings import sinusoidal_positions

    table = sinusoidal_positions(4, 6)
    assert table[3, 2] == pytest.approx(math.sin(3 / 10000 ** (2 / 6)), abs=1e-6)
    assert table[3, 3] == pytest.approx(math.cos(3 / 10000 ** (2 / 6)), abs=1e-6)
    assert table[0, 1] == pytest.approx(1.0)
