"""UniVTG's loss terms and its prediction (clip windows, NMS, highlight scores) against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sdst_teacher.univtg.config import UniVTGConfig
from sdst_teacher.univtg.model import build
from vtg.losses.clipwise import ClipwiseCriterion, inter_video_loss, intra_video_loss, temporal_giou

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_temporal_giou_hand_values():
    # same centre: pred [-1, 2], target [-2, 1] -> inter 2, union 4, enclosing 4
    # pred [-0.5, 0.5] inside target [-1, 3]: iou 1/4, enclosing = union
    pred = torch.tensor([[1.0, 2.0], [0.5, 0.5], [1.0, 1.0]])
    target = torch.tensor([[2.0, 1.0], [1.0, 3.0], [1.0, 1.0]])
    assert temporal_giou(pred, target).tolist() == pytest.approx([0.5, 0.25, 1.0], abs=1e-5)


def test_intra_video_loss_hand_value():
    tau = 0.5
    saliency = torch.tensor([[0.2, 0.8, 0.4, 0.9]])
    labels = torch.tensor([[0.0, 1.0, 0.5, 0.7]])
    mask = torch.tensor([[True, True, True, False]])  # clip 3 is padding
    # positive 1 (label 1.0) against clips 0 and 2; positive 2 (0.5) against clip 0
    s = [x / tau for x in [0.2, 0.8, 0.4]]
    term1 = -math.log(math.exp(s[1]) / (math.exp(s[1]) + math.exp(s[0]) + math.exp(s[2])))
    term2 = -math.log(math.exp(s[2]) / (math.exp(s[2]) + math.exp(s[0])))
    assert float(intra_video_loss(saliency, labels, mask, tau)) == pytest.approx((term1 + term2) / 2, rel=1e-5)


def test_intra_video_loss_is_zero_without_ranked_pairs():
    saliency = torch.tensor([[0.1, 0.3]], requires_grad=True)
    loss = intra_video_loss(saliency, torch.tensor([[0.5, 0.5]]), torch.tensor([[True, True]]), 0.07)
    assert float(loss) == 0.0
    loss.backward()


def test_inter_video_loss_hand_value():
    tau = 1.0
    video = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]]])  # (2, Lv=2, 2)
    sentence = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    labels = torch.tensor([[0.2, 0.9], [0.0, 0.6]])  # top clips: 1 and 1 -> [0, 1] and [1, 0]
    # cos matrix c[b, k] = cos(top clip of b, sentence k) = [[1, 0], [0, 1]]
    log_p = math.log(math.e / (math.e + 1.0))
    assert float(inter_video_loss(video, sentence, labels, tau)) == pytest.approx(-2 * log_p, rel=1e-5)


def test_criterion_weights_and_foreground_bce():
    config = UniVTGConfig(
        loss_boundary=2.0, loss_giou=3.0, loss_foreground=5.0, background_weight=0.5,
        loss_saliency_inter=0.0, loss_saliency_intra=0.0,
    )  # fmt: skip
    outputs = {
        "foreground_logits": torch.tensor([[0.0, 2.0, -1.0]]),
        "boundary": torch.tensor([[[0.0, 0.0], [1.0, 2.0], [7.0, 7.0]]]),
        "saliency": torch.zeros(1, 3),
        "video_features": torch.randn(1, 3, 4),
        "sentence": torch.randn(1, 4),
    }
    batch = {
        "video_mask": torch.tensor([[True, True, False]]),
        "foreground": torch.tensor([[0.0, 1.0, 1.0]]),  # clip 2 is padding: ignored though marked
        "boundary": torch.tensor([[[0.0, 0.0], [1.5, 1.0], [0.0, 0.0]]]),
        "saliency": torch.zeros(1, 3),
        "saliency_valid": torch.tensor([False]),
    }
    losses = ClipwiseCriterion(config)(outputs, batch)
    # on fractions of the 2 real clips: (0.5, 1) against (0.75, 0.5); both |x| < 1 -> 0.5 x^2
    smooth_l1 = 0.5 * 0.25**2 + 0.5 * 0.5**2
    # pred [-1, 2], target [-1.5, 1] around the same centre
    inter, union, enclosing = 1.0 + 1.0, 3.0 + 2.5 - 2.0, 1.5 + 2.0
    giou = inter / union - (enclosing - union) / enclosing
    bce = (0.5 * math.log(2.0) + 1.0 * math.log(1 + math.exp(-2.0))) / 2
    assert float(losses["boundary"]) == pytest.approx(smooth_l1, rel=1e-5)
    assert float(losses["giou"]) == pytest.approx(1 - giou, rel=1e-4)
    assert float(losses["foreground"]) == pytest.approx(bce, rel=1e-5)
    expected = 2.0 * smooth_l1 + 3.0 * (1 - giou) + 5.0 * bce
    assert float(losses["total"]) == pytest.approx(expected, rel=1e-4)


def test_predict_windows_nms_and_highlights():
    outputs = {
        "foreground_logits": torch.tensor([[2.0, 1.0, 0.0, -1.0]]),
        # clip 0 (centre 0.5): [0.5 - 1, 0.5 + 1] -> clipped at 0; clip 1 overlaps it heavily
        "boundary": torch.tensor([[[1.0, 1.0], [1.5, 0.5], [0.5, 0.5], [0.5, 5.0]]]),
        "saliency": torch.tensor([[0.1, -0.2, 0.3, 0.0]]),
    }
    batch = {
        "video_mask": torch.tensor([[True, True, True, False]]),
        "meta": [{"qid": 7, "vid": "v", "query": "q", "duration": 5.0, "clip_len": 2.0}],
    }
    dims = {"video_dim": 4, "text_dim": 4, "video_levels": 1, "text_levels": 1}
    (prediction,) = build({"hidden_dim": 8, "num_heads": 2}, dims).predict(batch, outputs)
    sig = [1 / (1 + math.exp(-x)) for x in [2.0, 1.0, 0.0]]
    # windows in seconds: clip 0 [0, 3], clip 1 [0, 4] (IoU 0.75 with clip 0: suppressed), clip 2 [4, 5]
    expected = [[0.0, 3.0, sig[0]], [4.0, 5.0, sig[2]]]
    assert np.allclose(prediction["pred_relevant_windows"], expected, atol=1e-4)
    assert prediction["pred_saliency_scores"] == pytest.approx([sig[0] + 0.1, sig[1] - 0.2, sig[2] + 0.3], abs=1e-4)
    (top1,) = build({"hidden_dim": 8, "num_heads": 2, "max_windows": 1}, dims).predict(batch, outputs)
    assert np.allclose(top1["pred_relevant_windows"], [[0.0, 3.0, sig[0]]], atol=1e-4)


@pytest.mark.parametrize("name", ["univtg_demo.yaml", "univtg_paper.yaml"])
def test_presets_are_valid(name):
    config = yaml.safe_load((CONFIGS / name).read_text())
    assert config["model"]["name"] == "univtg"
    model = UniVTGConfig.from_dict(config["model"])
    assert model.num_layers == 4
    assert {"epochs", "batch_size", "lr", "weight_decay", "seed"} <= set(config["train"])
