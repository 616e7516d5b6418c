"""1-D RoI pooling (torchvision's roi_align on a 1 x L map) against hand-computed bin averages."""

from __future__ import annotations

import pytest
import torch

from sdst_teacher.sdst.heads import ActionnessHead
from sdst_teacher.sdst.roi_pooling import roi_pool_1d

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)


def test_linear_features_pool_to_bin_centres():
    """On f(x) = x - 0.5 (clip i holds i), a bin's average of bilinear samples is f at the bin's centre."""
    features = torch.arange(20, dtype=torch.float32)[None, None]  # (1, 1, 20)
    segments = torch.tensor([[[2.0, 10.0], [4.5, 6.5]]])  # (1, 2, 2) clip units
    pooled = roi_pool_1d(features, segments, size=4)  # (1, 2, 1, 4)
    assert pooled.shape == (1, 2, 1, 4)
    assert pooled[0, 0, 0].tolist() == pytest.approx([2.5, 4.5, 6.5, 8.5])  # bin centres 3, 5, 7, 9
    assert pooled[0, 1, 0].tolist() == pytest.approx([4.25, 4.75, 5.25, 5.75])


def test_each_video_pools_its_own_features_and_channels():
    features = torch.stack([torch.full((3, 8), 1.0), torch.full((3, 8), 2.0)])  # (2, 3, 8) constant per video
    features[:, 1] *= 10
    segments = torch.tensor([[[1.0, 5.0]], [[2.0, 7.0]]])
    pooled = roi_pool_1d(features, segments, size=3)  # (2, 1, 3, 3)
    assert pooled[0, 0, :, 0].tolist() == pytest.approx([1.0, 10.0, 1.0])
    assert pooled[1, 0, :, 1].tolist() == pytest.approx([2.0, 20.0, 2.0])


def test_nonlinear_features_match_a_hand_written_bilinear_average():
    """Quadratic features: compare with an explicit average of linear interpolations at roi_align's points."""
    length, size = 16, 4
    values = torch.arange(length, dtype=torch.float64) ** 2
    start, end = 3.0, 11.0  # each bin is 2 clips wide: roi_align's adaptive sampling takes 2 points per bin
    pooled = roi_pool_1d(values.float()[None, None], torch.tensor([[[start, end]]]), size)[0, 0, 0]

    def interpolate(x: float) -> float:  # x in pixel-centre coordinates (clip i at i)
        low = int(x // 1)
        frac = x - low
        return float(values[low] * (1 - frac) + values[min(low + 1, length - 1)] * frac)

    bin_width = (end - start) / size
    expected = []
    for i in range(size):
        points = [start - 0.5 + i * bin_width + (j + 0.5) * bin_width / 2 for j in range(2)]
        expected.append(sum(interpolate(x) for x in points) / 2)
    assert pooled.tolist() == pytest.approx(expected, rel=1e-5)


def test_actionness_head_output_range_and_shape():
    head = ActionnessHead(dim=6, roi_size=4, roi_scale=0.5)
    out = head(
        torch.randn(2, 9, 6),
        torch.tensor([[[0.5, 0.2], [0.1, 0.1]], [[0.8, 0.3], [0.5, 1.0]]]),
        torch.tensor([9.0, 7.0]),
    )
    assert out.shape == (2, 2) and torch.all((out > 0) & (out < 1))


def test_features_fade_to_zero_past_the_ends():
    features = torch.ones(1, 1, 4)
    pooled = roi_pool_1d(features, torch.tensor([[[3.5, 4.5], [5.0, 6.0]]]), size=1)[0, :, 0, 0]  # (2,)
    # [3.5, 4.5]: one sample, at 4.0, halfway between clip 3's centre (3.5) and the zero beyond (4.5)
    assert pooled.tolist() == pytest.approx([0.5, 0.0])
