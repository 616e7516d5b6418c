"""Clip/time conversions, prediction lines from clip-wise outputs, writing and reading them back."""

import json

import pytest
import torch

from vtg.data.predictions import read_predictions
from vtg.errors import UserError
from vtg.postprocess.predictions import batch_predictions, clipwise_prediction, write_predictions
from vtg.postprocess.windows import boundaries_to_windows, clip_centres, clip_to_time

META = {"qid": 3, "query": "a dog", "vid": "v", "duration": 9.0, "clip_len": 2.0}


def test_clip_time_conversions():
    assert clip_centres(3).tolist() == [0.5, 1.5, 2.5]
    assert clip_to_time(4, 2.0) == (8.0, 10.0) and clip_to_time(4, 2.0, duration=9.0) == (8.0, 9.0)
    boundary = torch.tensor([[0.5, 0.5], [3.0, 1.0], [0.0, 4.0]])
    windows = boundaries_to_windows(boundary, 2.0, 9.0)
    assert windows.tolist() == [[0.0, 2.0], [0.0, 5.0], [5.0, 9.0]]  # clamped to [0, duration]
    assert boundaries_to_windows(boundary[None].repeat(2, 1, 1), 2.0, 9.0).shape == (2, 3, 2)


def test_clipwise_prediction_nms_order_and_limit():
    foreground = torch.tensor([0.2, 0.9, 0.85, 0.1, 0.6])
    boundary = torch.tensor([[0.5, 0.5], [1.5, 1.5], [2.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    saliency = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    prediction = clipwise_prediction(META, foreground, boundary, saliency, nms_threshold=0.7)
    assert prediction["qid"] == 3 and prediction["vid"] == "v" and prediction["query"] == "a dog"
    # clips 1 and 2 both propose [0, 6]: the second is suppressed; clip 4 proposes [8, 10] -> [8, 9]
    assert prediction["pred_relevant_windows"] == [[0.0, 6.0, 0.9], [8.0, 9.0, 0.6], [0.0, 2.0, 0.2], [6.0, 8.0, 0.1]]
    assert prediction["pred_saliency_scores"] == [0.1, 0.2, 0.3, 0.4, 0.5]
    limited = clipwise_prediction(META, foreground, boundary, saliency, max_windows=2)
    assert len(limited["pred_relevant_windows"]) == 2


def test_batch_predictions_drop_padding_and_round_trip(tmp_path):
    batch = {"video_mask": torch.tensor([[True, True, False], [True, True, True]]), "meta": [META, {**META, "qid": 4}]}
    foreground, boundary, saliency = torch.rand(2, 3), torch.rand(2, 3, 2), torch.rand(2, 3)
    predictions = batch_predictions(batch, foreground, boundary, saliency)
    assert [len(p["pred_saliency_scores"]) for p in predictions] == [2, 3]
    assert write_predictions(tmp_path / "p.jsonl", predictions) == 2
    read = read_predictions(tmp_path / "p.jsonl")
    assert [p["qid"] for p in read] == [3, 4]
    assert read[1]["pred_relevant_windows"] == predictions[1]["pred_relevant_windows"]


GOOD = {"qid": 1, "vid": "v", "query": "q", "pred_relevant_windows": [[0, 4, 0.9], [2, 6, 0.5]],
        "pred_saliency_scores": [0.1, 0.2]}  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({k: v for k, v in GOOD.items() if k != "qid"}, ":1: field 'qid': missing"),
        ({k: v for k, v in GOOD.items() if k != "pred_relevant_windows"}, "field 'pred_relevant_windows': missing"),
        ({**GOOD, "pred_relevant_windows": [[0, 4]]}, "'pred_relevant_windows'[0]: expected 3 items, got 2"),
        ({**GOOD, "pred_relevant_windows": [[5, 4, 0.9]]}, "start 5.0 is after end 4.0"),
        ({**GOOD, "pred_relevant_windows": [[0, 4, 0.1], [0, 2, 0.9]]}, "sorted by decreasing score"),
        ({**GOOD, "pred_saliency_scores": [0.1, float("nan")]}, "'pred_saliency_scores'[1]: expected a finite number"),
        ({**GOOD, "vid": 5}, "field 'vid': expected a non-empty string"),
    ],
)
def test_bad_prediction_lines(tmp_path, line, expected):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(UserError) as error:
        read_predictions(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_duplicate_prediction(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(UserError, match=":2: field 'qid': 1 already predicted at"):
        read_predictions(path)
