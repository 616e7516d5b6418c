"""Temporal IoU, 1-D NMS and soft-NMS."""

import pytest
import torch

from vtg.postprocess.iou import temporal_iou
from vtg.postprocess.nms import nms_1d
from vtg.postprocess.soft_nms import soft_nms_1d


def test_temporal_iou_values():
    a = torch.tensor([[0.0, 10.0], [5.0, 6.0]])
    b = torch.tensor([[5.0, 15.0], [20.0, 30.0], [0.0, 10.0]])
    expected = torch.tensor([[5 / 15, 0.0, 1.0], [0.1, 0.0, 0.1]])
    assert torch.allclose(temporal_iou(a, b), expected)


def brute_force_nms(windows, scores, threshold):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        if all(temporal_iou(windows[i : i + 1], windows[j : j + 1]).item() <= threshold for j in kept):
            kept.append(i)
    return kept


def test_nms_matches_the_greedy_definition():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        start = torch.rand(30, generator=generator) * 100
        windows = torch.stack([start, start + 1 + torch.rand(30, generator=generator) * 30], 1)
        scores = torch.rand(30, generator=generator)
        assert nms_1d(windows, scores, 0.5).tolist() == brute_force_nms(windows, scores, 0.5)


def test_nms_threshold_and_limit():
    windows = torch.tensor([[0.0, 10.0], [1.0, 10.0], [0.0, 5.0], [20.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms_1d(windows, scores, 0.7).tolist() == [0, 2, 3]  # IoU(0, 1) = 0.9 > 0.7; IoU(0, 2) = 0.5
    assert nms_1d(windows, scores, 0.4).tolist() == [0, 3]
    assert nms_1d(windows, scores, 0.7, max_windows=2).tolist() == [0, 2]
    assert nms_1d(windows[:0], scores[:0]).tolist() == []


def test_soft_nms_gaussian_decays_overlaps():
    windows = torch.tensor([[0.0, 10.0], [0.0, 5.0], [20.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.5])
    kept, new_scores = soft_nms_1d(windows, scores, "gaussian", sigma=0.5)
    decayed = 0.8 * torch.exp(torch.tensor(-(0.5**2) / 0.5))
    assert torch.equal(kept, windows[[0, 2, 1]])
    assert torch.allclose(new_scores, torch.stack([torch.tensor(0.9), torch.tensor(0.5), decayed]))


def test_soft_nms_linear_only_above_threshold_and_drops_low_scores():
    windows = torch.tensor([[0.0, 10.0], [0.0, 8.0], [0.0, 2.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, new_scores = soft_nms_1d(windows, scores, "linear", iou_threshold=0.3)
    # [0, 8]: IoU 0.8 with the best -> 0.16; [0, 2]: IoU 0.2 <= 0.3 is spared, then IoU 0.25 with [0, 8]
    assert torch.allclose(new_scores, torch.tensor([0.9, 0.7, 0.8 * 0.2]))
    kept, _ = soft_nms_1d(windows, scores, "linear", iou_threshold=0.3, score_threshold=0.5)
    assert kept.shape == (2, 2)
    with pytest.raises(ValueError, match="method"):
        soft_nms_1d(windows, scores, "cubic")
