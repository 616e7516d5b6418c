"""SDST inference (Sec. C.4): soft-NMS on C = sqrt(p * actionness) (Eq. 23), windows in seconds, saliency."""

from __future__ import annotations

import math

import pytest
import torch

from sdst_teacher.sdst.postprocess import PostProcess

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)


def outputs_and_batch():
    # queries 0 and 1 predict the same segment, query 2 a disjoint one, query 3 runs past the video's end
    spans = torch.tensor([[[0.25, 0.1], [0.25, 0.1], [0.7, 0.2], [0.95, 0.3]]])  # (1, 4, 2) centre-width
    p = torch.tensor([[0.9, 0.8, 0.5, 0.4]])
    actionness = torch.tensor([[0.4, 0.8, 0.5, 0.1]])
    outputs = {
        "pred_logits": torch.logit(p),
        "pred_actionness": actionness,
        "pred_spans": spans,
        "saliency": torch.tensor([[0.1, -0.2, 0.3, 0.0, 0.0]]),
    }
    batch = {
        "meta": [{"qid": 7, "vid": "v", "query": "q", "duration": 40.0, "clip_len": 10.0}],
        "video_mask": torch.tensor([[True, True, True, True, False]]),
    }
    return outputs, batch, (p * actionness).sqrt()[0]


def test_gaussian_soft_nms_on_eq_23_confidence():
    outputs, batch, confidence = outputs_and_batch()  # confidence: 0.6, 0.8, 0.5, 0.2
    (prediction,) = PostProcess("gaussian", sigma=0.5, threshold=0.3, max_windows=10)(batch, outputs)
    assert prediction["qid"] == 7 and prediction["vid"] == "v" and prediction["query"] == "q"
    windows = prediction["pred_relevant_windows"]
    # query 1 (0.8) first, then query 2 (0.5) and query 3 ([0.8, 1.1] clipped to [32, 40] s, touching query 2's
    # [24, 32] s at a point only); query 0, a duplicate of query 1, decayed by exp(-1 / 0.5) to 0.081, comes last
    expected_windows = [[8.0, 12.0], [24.0, 32.0], [32.0, 40.0], [8.0, 12.0]]
    assert [w[:2] for w in windows] == [pytest.approx(w) for w in expected_windows]
    expected = [confidence[1], confidence[2], confidence[3], confidence[0] * math.exp(-2.0)]
    assert [w[2] for w in windows] == pytest.approx([float(c) for c in expected], rel=1e-5)
    assert prediction["pred_saliency_scores"] == pytest.approx([0.1, -0.2, 0.3, 0.0])


def test_linear_soft_nms_and_the_cap():
    outputs, batch, confidence = outputs_and_batch()
    (prediction,) = PostProcess("linear", sigma=0.5, threshold=0.3, max_windows=2)(batch, outputs)
    windows = prediction["pred_relevant_windows"]
    assert len(windows) == 2
    assert [w[2] for w in windows] == pytest.approx([float(confidence[1]), float(confidence[2])], rel=1e-5)


def test_without_actionness_queries_are_ranked_by_p():
    outputs, batch, _ = outputs_and_batch()
    del outputs["pred_actionness"]
    (prediction,) = PostProcess("linear", sigma=0.5, threshold=0.3, max_windows=2)(batch, outputs)
    # p: 0.9 for query 0 (query 1, its duplicate, is decayed below query 2), then query 2's 0.5
    assert [w[2] for w in prediction["pred_relevant_windows"]] == pytest.approx([0.9, 0.5], rel=1e-5)
