"""Soft-NMS: Gaussian and linear decay of overlapping segments, order and the cap on kept segments."""

from __future__ import annotations

import math

import pytest
import torch
from test_sdst_batch import one_thread  # noqa: F401  (autouse fixture: one torch thread here)

from sdst_teacher.sdst.soft_nms import soft_nms


def test_gaussian_decay_of_a_duplicate_and_disjoint_segments_untouched():
    segments = torch.tensor([[0.0, 10.0], [0.0, 10.0], [20.0, 30.0], [5.0, 15.0]])
    scores = torch.tensor([0.9, 0.8, 0.5, 0.65])
    kept, new = soft_nms(segments, scores, "gaussian", sigma=0.5, threshold=0.3, max_keep=10)
    # 0.9 first; the duplicate decays by exp(-1/0.5), [5, 15] (IoU 1/3) by exp(-(1/3)^2/0.5), [20, 30] not at all
    dup = 0.8 * math.exp(-1 / 0.5)
    half = 0.65 * math.exp(-((1 / 3) ** 2) / 0.5)
    assert new[0] == pytest.approx(0.9)
    assert new[1] == pytest.approx(half)
    assert kept[1].tolist() == [5.0, 15.0]
    assert new[2] == pytest.approx(0.5)
    # the duplicate is decayed again by [5, 15] (IoU 1/3 with [0, 10]) before it is picked last
    assert new[3] == pytest.approx(dup * math.exp(-((1 / 3) ** 2) / 0.5), rel=1e-5)
    assert torch.all(new[:-1] >= new[1:])


def test_linear_decay_only_above_threshold_and_cap():
    segments = torch.tensor([[0.0, 10.0], [1.0, 10.0], [8.0, 20.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    kept, new = soft_nms(segments, scores, "linear", sigma=0.5, threshold=0.5, max_keep=2)
    assert len(kept) == 2
    # [1, 10] has IoU 0.9 with [0, 10]: 0.8 * 0.1; [8, 20] has IoU 2/20 < 0.5: kept at 0.7
    assert new.tolist() == pytest.approx([0.9, 0.7])
    assert kept.tolist() == [[0.0, 10.0], [8.0, 20.0]]


def test_empty_input():
    kept, new = soft_nms(torch.zeros(0, 2), torch.zeros(0), "gaussian", 0.5, 0.3, 10)
    assert kept.shape == (0, 2) and new.shape == (0,)
