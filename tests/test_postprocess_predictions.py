"""Clip/time conversions, prediction lines from clip-wise outputs, writing and reading them back."""

import pytest
import torch
from prediction_support import read_predictions

from vtg.errors import UserError
from vtg.metrics import evaluate
from vtg.postprocess.predictions import batch_predictions, clipwise_prediction, write_predictions
from vtg.postprocess.windows import boundaries_to_windows, clip_centres

META = {"qid": 3, "query": "a dog", "vid": "v", "duration": 9.0, "clip_len": 2.0}


def test_clip_time_conversions():
    assert clip_centres(3).tolist() == [0.5, 1.5, 2.5]
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


def test_a_line_keeps_its_windows_when_every_one_is_empty_and_scores_with_them():
    """Offsets (0, 0) everywhere (softplus underflows to 0): every window is empty, none proper; they stay."""
    foreground, boundary, saliency = torch.tensor([0.3, 0.7]), torch.zeros(2, 2), torch.tensor([0.1, 0.2])
    line = clipwise_prediction({**META, "duration": 4.0}, foreground, boundary, saliency)
    assert line["pred_relevant_windows"] == [[3.0, 3.0, 0.7], [1.0, 1.0, 0.3]]
    truth = {"qid": 3, "query": "a dog", "vid": "v", "duration": 4.0, "relevant_windows": [[0, 2]]}
    assert evaluate("charades", [line], [truth])["brief"]["MR-R1@0.5"] == 0.0


def test_non_finite_outputs_are_named_not_written():
    good = torch.tensor([0.3, 0.7]), torch.ones(2, 2), torch.tensor([0.1, 0.2])
    for index, name in enumerate(("foreground", "boundary", "saliency")):
        outputs = [t.clone() for t in good]
        outputs[index].view(-1)[0] = float("nan")
        with pytest.raises(UserError, match=f"qid 3: the model's {name} outputs are not finite"):
            clipwise_prediction(META, *outputs)


def test_batch_predictions_drop_padding_and_round_trip(tmp_path):
    batch = {"video_mask": torch.tensor([[True, True, False], [True, True, True]]), "meta": [META, {**META, "qid": 4}]}
    foreground, boundary, saliency = torch.rand(2, 3), torch.rand(2, 3, 2), torch.rand(2, 3)
    predictions = batch_predictions(batch, foreground, boundary, saliency)
    assert [len(p["pred_saliency_scores"]) for p in predictions] == [2, 3]
    assert write_predictions(tmp_path / "p.jsonl", predictions) == 2
    read = read_predictions(tmp_path / "p.jsonl")
    assert [p["qid"] for p in read] == [3, 4]
    assert read[1]["pred_relevant_windows"] == predictions[1]["pred_relevant_windows"]
