"""The shared clip-wise criterion (vtg/losses/clipwise.py): scale of the boundary term, empty terms, weights."""

from __future__ import annotations

import pytest
import torch

from vtg.losses.clipwise import ClipwiseCriterion
from vtg.losses.clipwise_config import ClipwiseHeadConfig


def one_video(clips: int, pred_scale: float) -> tuple[dict, dict]:
    """A video of ``clips`` real clips, all foreground; targets (n/4, n/2) and predictions scaled by pred_scale."""
    target = torch.tensor([clips / 4, clips / 2]).expand(1, clips, 2)  # (1, n, 2)
    outputs = {
        "foreground_logits": torch.zeros(1, clips),
        "boundary": target * pred_scale,
        "saliency": torch.zeros(1, clips),
        "video_features": torch.randn(1, clips, 4),
        "sentence": torch.randn(1, 4),
    }
    batch = {
        "video_mask": torch.ones(1, clips, dtype=torch.bool),
        "foreground": torch.ones(1, clips),
        "boundary": target.clone(),
        "saliency": torch.zeros(1, clips),
        "saliency_valid": torch.tensor([False]),
    }
    return outputs, batch


def test_boundary_term_is_on_fractions_of_the_video():
    criterion = ClipwiseCriterion(ClipwiseHeadConfig())
    short = criterion(*one_video(8, 1.5))
    long = criterion(*one_video(80, 1.5))
    # the same relative error costs the same whatever the video's length (in clip units: 10x more)
    assert float(long["boundary"]) == pytest.approx(float(short["boundary"]), rel=1e-5)
    # (n/8, n/4) off on fractions (1/4, 1/2) -> 0.5 (1/8)^2 + 0.5 (1/4)^2
    assert float(short["boundary"]) == pytest.approx(0.5 / 64 + 0.5 / 16, rel=1e-5)
    assert float(short["giou"]) == pytest.approx(1 - 1 / 1.5, rel=1e-5)


def test_total_is_the_weighted_sum_and_empty_terms_keep_the_graph():
    weights = ClipwiseHeadConfig(
        loss_boundary=2.0, loss_giou=3.0, loss_foreground=5.0, loss_saliency_inter=0.5, loss_saliency_intra=0.25
    )
    outputs, batch = one_video(6, 2.0)
    losses = ClipwiseCriterion(weights)(outputs, batch)
    expected = sum(
        getattr(weights, f"loss_{name}") * float(losses[name])
        for name in ("boundary", "giou", "foreground", "saliency_inter", "saliency_intra")
    )
    assert float(losses["total"]) == pytest.approx(expected, rel=1e-5)

    logits = torch.zeros(1, 6, requires_grad=True)
    empty = dict(outputs, foreground_logits=logits)
    background = dict(batch, foreground=torch.zeros(1, 6))  # no foreground, no saliency: only L_f remains
    losses = ClipwiseCriterion(weights)(empty, background)
    assert float(losses["boundary"]) == float(losses["giou"]) == float(losses["saliency_intra"]) == 0.0
    for name in ("boundary", "giou", "saliency_inter", "saliency_intra"):  # zeros of the graph, not constants
        assert losses[name].grad_fn is not None, name
    losses["total"].backward()
    assert logits.grad is not None
