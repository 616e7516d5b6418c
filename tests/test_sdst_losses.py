"""SDST's losses: the focal loss against torchvision's, InfoNCE, and the criterion's terms on hand-made outputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from test_sdst_batch import (
    make_batch,
)
from torchvision.ops import sigmoid_focal_loss

from sdst_teacher.sdst.config import SDSTConfig
from sdst_teacher.sdst.criterion import SDSTCriterion, normalised_targets
from sdst_teacher.sdst.losses import focal_loss, info_nce

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (0.5, 0.0), (-1.0, 1.5)])
def test_focal_loss_equals_torchvision(alpha, gamma):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 7, generator=g) * 3
    targets = (torch.rand(4, 7, generator=g) > 0.7).float()
    expected = sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="none")
    assert torch.allclose(focal_loss(logits, targets, alpha, gamma), expected, atol=1e-6)


def test_info_nce_is_cross_entropy_over_the_candidates():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 5, generator=g)
    positive = torch.tensor([0, 3, 4])
    everything = torch.ones(3, 5, dtype=torch.bool)
    assert info_nce(logits, everything, positive) == pytest.approx(float(F.cross_entropy(logits, positive)))
    candidates = torch.tensor([[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [1, 0, 0, 0, 1]], dtype=torch.bool)
    subset = torch.stack([logits[0, [0, 1]], logits[1, [2, 3]], logits[2, [0, 4]]])
    expected = F.cross_entropy(subset, torch.tensor([0, 1, 1]))
    assert info_nce(logits, candidates, positive) == pytest.approx(float(expected))
    assert float(info_nce(logits[:0], candidates[:0], positive[:0])) == 0.0


def fake_outputs(batch: dict, levels: int, num_queries: int = 4, dim: int = 8, seed: int = 0) -> dict:
    """Outputs in SDST's layout where query 0.. of each video predicts its ground-truth windows exactly."""
    g = torch.Generator().manual_seed(seed)
    targets = normalised_targets(batch)
    batch_size, num_clips = batch["video_mask"].shape
    spans = torch.tensor([[0.5, 0.1]]).repeat(batch_size, num_queries, 1)
    for b, target in enumerate(targets):
        spans[b, : len(target)] = target
    logits = torch.full((batch_size, num_queries), -2.0)
    return {
        "level_logits": [logits.clone().requires_grad_() for _ in range(levels)],
        "level_spans": [spans.clone().requires_grad_() for _ in range(levels)],
        "pred_logits": logits,
        "pred_spans": spans,
        "pred_actionness": torch.full((batch_size, num_queries), 0.5, requires_grad=True),
        "saliency": torch.randn(batch_size, num_clips, generator=g).requires_grad_(),
        "level_video": [torch.randn(batch_size, num_clips, dim, generator=g).requires_grad_() for _ in range(levels)],
        "level_text_pool": [torch.randn(batch_size, dim, generator=g).requires_grad_() for _ in range(levels)],
    }


def test_normalised_targets_are_centre_width_of_the_duration():
    batch = make_batch(lengths=(10,), clip_len=2.0)  # duration 20 s, windows [0, 4] s and [14, 20] s
    (target,) = normalised_targets(batch)
    assert target.flatten().tolist() == pytest.approx([0.1, 0.2, 0.85, 0.3])


def test_exact_predictions_have_zero_regression_losses_and_focal_loss_by_hand():
    batch = make_batch()
    outputs = fake_outputs(batch, levels=2)
    losses = SDSTCriterion(SDSTConfig())(outputs, batch)
    for level in range(2):
        assert float(losses[f"l1_{level}"]) == pytest.approx(0.0, abs=1e-6)
        assert float(losses[f"iou_{level}"]) == pytest.approx(0.0, abs=1e-6)
    # matched queries are those predicting the windows: 2, 1, 2 of the 3 x 4 queries have label 1
    p = 1 / (1 + math.exp(2.0))
    positive, negative = 0.25 * (1 - p) ** 2 * -math.log(p), 0.75 * p**2 * -math.log(1 - p)
    assert float(losses["cls_0"]) == pytest.approx((5 * positive + 7 * negative) / 12, rel=1e-5)


def test_actionness_target_is_each_query_max_iou():
    batch = make_batch(lengths=(10,))  # windows [0.0, 0.2] and [0.7, 1.0] normalised
    spans = torch.tensor([[[0.1, 0.2], [0.15, 0.1], [0.5, 0.2], [0.85, 0.6]]])  # IoU 1, 0.5, 0, 0.3/0.6
    actionness = torch.zeros(1, 4)
    loss = SDSTCriterion.actionness_loss(actionness, spans, normalised_targets(batch))
    assert float(loss) == pytest.approx((1 + 0.5 + 0 + 0.5) / 4, rel=1e-5)
    # batched with a video without moments (actionness target 0) and one with its own moment
    spans = torch.cat([spans, spans, torch.tensor([[[0.5, 1.0], [0.1, 0.2], [0.9, 0.2], [0.5, 0.5]]])])  # (3, 4, 2)
    targets = [*normalised_targets(batch), torch.zeros(0, 2), torch.tensor([[0.5, 1.0]])]
    loss = SDSTCriterion.actionness_loss(torch.zeros(3, 4), spans, targets)
    assert float(loss) == pytest.approx(((1 + 0.5 + 0 + 0.5) + 0 + (1 + 0.2 + 0.2 + 0.5)) / 12, rel=1e-5)


def test_saliency_loss_ranks_the_positive_against_lower_clips_only():
    batch = make_batch(lengths=(6,))
    batch["saliency"] = torch.tensor([[0.0, 0.25, 1.0, 0.5, 0.0, 1.0]])
    batch["saliency_valid"] = torch.tensor([True])
    criterion = SDSTCriterion(SDSTConfig(temperature=0.5))
    saliency = torch.tensor([[0.1, 0.2, 0.9, -0.3, 0.0, 0.4]])
    positive, has_positive = torch.tensor([3]), torch.tensor([True])  # saliency 0.5: candidates 0, 1, 3, 4
    loss = criterion.saliency_loss(saliency, batch, positive, has_positive)
    logits = saliency[0, [0, 1, 3, 4]] / 0.5
    assert float(loss) == pytest.approx(float(-logits.log_softmax(0)[2]), rel=1e-5)
    for _ in range(5):  # positives are drawn among the clips with a positive target
        drawn, has = SDSTCriterion.sample_positives(batch)
        assert bool(has[0]) and float(batch["saliency"][0, drawn[0]]) > 0


def test_alignment_losses_by_hand():
    """Eq. 21: the other videos' j-th clips are the negatives; Eq. 22: the same clip at the other levels."""
    batch = make_batch(lengths=(5, 3))
    outputs = fake_outputs(batch, levels=2, dim=4, seed=3)
    criterion = SDSTCriterion(SDSTConfig(temperature=1.0))
    positive, has_positive = torch.tensor([4, 1]), torch.tensor([True, True])
    video, layer = criterion.alignment_losses(
        outputs["level_video"], outputs["level_text_pool"], batch["video_mask"], positive, has_positive
    )
    v, t = outputs["level_video"], outputs["level_text_pool"]
    # video 0's clip 4 does not exist in video 1 (3 clips): its only candidate is itself, loss 0
    row1 = F.cosine_similarity(v[0][:, 1], t[0][1][None], dim=-1)  # both videos' clip 1 against query 1
    assert float(video[0]) == pytest.approx(float(-row1.log_softmax(0)[1]) / 2, rel=1e-5)
    own0 = torch.stack([v[0][0, 4], v[1][0, 4]])  # video 0's clip 4 at both levels
    own1 = torch.stack([v[0][1, 1], v[1][1, 1]])
    expected = (
        -F.cosine_similarity(own0, t[1][0][None], dim=-1).log_softmax(0)[1]
        - F.cosine_similarity(own1, t[1][1][None], dim=-1).log_softmax(0)[1]
    ) / 2
    assert float(layer[1]) == pytest.approx(float(expected), rel=1e-5)


def test_total_is_eq_14_and_back_propagates():
    batch = make_batch()
    outputs = fake_outputs(batch, levels=3)
    config = SDSTConfig(loss_hd=2.0, loss_mr=0.5, loss_align=3.0)
    losses = SDSTCriterion(config)(outputs, batch)
    mr = sum(losses[f"cls_{k}"] + losses[f"l1_{k}"] + losses[f"iou_{k}"] for k in range(3)) + losses["act"]
    assert float(losses["mr"]) == pytest.approx(float(mr), rel=1e-5)
    assert float(losses["hd"]) == pytest.approx(0.1 * float(losses["saliency"]), rel=1e-5)
    align = 0.1 * losses["align_video"] + 0.1 * losses["align_layer"]
    assert float(losses["align"]) == pytest.approx(float(align), rel=1e-5)
    total = 2.0 * losses["hd"] + 0.5 * losses["mr"] + 3.0 * losses["align"]
    assert float(losses["total"]) == pytest.approx(float(total), rel=1e-5)
    losses["total"].backward()
    assert outputs["pred_actionness"].grad is not None and outputs["level_video"][2].grad is not None


def test_video_without_moments_has_only_negatives():
    batch = make_batch(lengths=(8, 6))
    batch["windows"][1] = torch.zeros(0, 2)
    batch["foreground"][1] = 0.0
    config = SDSTConfig()
    outputs = fake_outputs(batch, levels=1)
    losses = SDSTCriterion(config)(outputs, batch)
    assert all(torch.isfinite(v) for v in losses.values())
    # video 0's queries 0.. predict its moments exactly and are matched; every query of video 1 is a negative
    targets = normalised_targets(batch)
    assert len(targets[1]) == 0 and len(targets[0]) > 0
    labels = torch.zeros_like(outputs["pred_logits"])  # (2, queries)
    labels[0, : len(targets[0])] = 1.0
    expected = focal_loss(outputs["pred_logits"], labels, config.focal_alpha, config.focal_gamma).mean()
    assert float(losses["cls_0"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(losses["l1_0"]) == pytest.approx(0.0, abs=1e-6) and float(losses["iou_0"]) == pytest.approx(
        0.0, abs=1e-5
    )


def test_cls_normalization_boxes_divides_the_sum_by_the_ground_truth_moments():
    batch = make_batch()
    outputs = fake_outputs(batch, levels=1)
    queries = SDSTCriterion(SDSTConfig())(outputs, batch)["cls_0"]
    boxes = SDSTCriterion(SDSTConfig(cls_normalization="boxes"))(outputs, batch)["cls_0"]
    # 3 videos x 4 queries, 5 ground-truth moments: the sum over 12 queries per moment
    assert float(boxes) == pytest.approx(float(queries) * 12 / 5, rel=1e-6)


def test_without_the_actionness_head_there_is_no_actionness_loss():
    batch = make_batch()
    outputs = fake_outputs(batch, levels=2)
    del outputs["pred_actionness"]
    losses = SDSTCriterion(SDSTConfig(actionness=False))(outputs, batch)
    assert "act" not in losses
    expected = sum(losses[f"{term}_{level}"] for term in ("cls", "l1", "iou") for level in range(2))
    assert float(losses["mr"]) == pytest.approx(float(expected), rel=1e-6)
