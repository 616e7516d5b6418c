"""``vtg predict``: official prediction lines, metrics equal to validation's, one-line errors."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch
import yaml
from prediction_support import read_predictions

from vtg import evaluation
from vtg.checkpoint import METADATA_KEY
from vtg.cli import main
from vtg.data.annotations import annotation_to_record, parse_annotation
from vtg.errors import UserError
from vtg.evaluation import score_predictions, set_timesteps


def test_predict_writes_valid_jsonl_and_metrics_of_validation(tiny_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "preds.jsonl"
    checkpoint = tiny_run / "best.ckpt"
    code = main(["predict", "--checkpoint", str(checkpoint), "--data", str(tiny_data), "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["predictions"] == str(out) and summary["count"] == 8
    assert summary["model"] == "tiny" and summary["tc"] is None

    predictions = read_predictions(out)  # checks fields, window order and numbers
    val_qids = [json.loads(line)["qid"] for line in (tiny_data / "val.jsonl").read_text().splitlines()]
    assert [p["qid"] for p in predictions] == val_qids
    for prediction in predictions:
        assert prediction["pred_relevant_windows"] and prediction["pred_saliency_scores"]
        assert {"vid", "query"} <= set(prediction)

    # the metrics of the checkpoint's own validation, recomputed from the written predictions' model
    saved = torch.load(checkpoint, weights_only=True)[METADATA_KEY]["metrics"]
    assert summary["metrics"]["MR-full-mAP"] == saved["MR-full-mAP"]
    assert summary["metrics"]["HL-min-VeryGood-Hit1"] == saved["HL-min-VeryGood-Hit1"]


def test_predict_prints_metrics_for_people(tiny_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "preds.jsonl"
    assert (
        main(["predict", "--checkpoint", str(tiny_run / "last.ckpt"), "--data", str(tiny_data), "--out", str(out)]) == 0
    )
    text = capsys.readouterr().out
    assert f"wrote 8 predictions to {out}" in text and "MR-full-R1@0.5" in text


def test_tc_of_a_model_that_is_not_spiking_is_an_error(tiny_run, tiny_data, tmp_path, capsys):
    code = main(["predict", "--checkpoint", str(tiny_run / "last.ckpt"), "--data", str(tiny_data), "--tc", "4"])
    err = capsys.readouterr().err
    assert code == 2 and "--tc" in err and "'tiny'" in err and len(err.strip().splitlines()) == 1


def test_predict_on_data_with_other_dims_names_them(tiny_run, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(["data", "synth", "--preset", "tiny", "--out", str(other), "--levels", "1", "--val", "2"]) == 0
    capsys.readouterr()
    code = main(["predict", "--checkpoint", str(tiny_run / "last.ckpt"), "--data", str(other)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "video_levels=1" in err and "video_levels=2" in err


def test_predict_with_missing_checkpoint_is_one_line(tiny_data, tmp_path, capsys):
    code = main(["predict", "--checkpoint", str(tmp_path / "none.ckpt"), "--data", str(tiny_data)])
    err = capsys.readouterr().err
    assert code == 2 and "none.ckpt" in err and "not found" in err


def test_predictions_never_replace_the_checkpoint_or_the_split_they_read(tiny_run, tiny_data, capsys):
    checkpoint, split = tiny_run / "last.ckpt", tiny_data / "val.jsonl"
    before = checkpoint.read_bytes(), split.read_bytes()
    for out, option in ((checkpoint, "--checkpoint"), (split, "--split val")):
        code = main(["predict", "--checkpoint", str(checkpoint), "--data", str(tiny_data), "--out", str(out)])
        assert code == 2 and f"is the file given to {option}" in capsys.readouterr().err
    assert (checkpoint.read_bytes(), split.read_bytes()) == before


def test_tc_sets_the_inference_timesteps_of_a_spiking_model():
    spiking = SimpleNamespace(inference_tc=8)
    set_timesteps(spiking, "spikingvtg", 4)
    assert spiking.inference_tc == 4
    set_timesteps(spiking, "spikingvtg", None)
    assert spiking.inference_tc == 4
    with pytest.raises(UserError, match="option --tc: expected at least 1"):
        set_timesteps(spiking, "spikingvtg", 0)


def test_split_without_ground_truth_gets_predictions_and_no_metrics(tiny_run, tiny_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    lines = [json.loads(line) for line in (data / "val.jsonl").read_text().splitlines()]
    test_lines = [{k: v for k, v in line.items() if k in ("qid", "query", "vid", "duration")} for line in lines]
    (data / "test.jsonl").write_text("".join(json.dumps(line) + "\n" for line in test_lines))
    config = yaml.safe_load((data / "dataset.yaml").read_text())
    config["splits"]["test"] = "test.jsonl"
    (data / "dataset.yaml").write_text(yaml.safe_dump(config))

    out = tmp_path / "test_preds.jsonl"
    args = ["predict", "--checkpoint", str(tiny_run / "last.ckpt"), "--data", str(data), "--split", "test"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["metrics"] is None and summary["count"] == len(test_lines)
    assert [p["qid"] for p in read_predictions(out)] == [line["qid"] for line in test_lines]


def test_scores_count_saliency_clips_in_the_datasets_clip_length():
    # 20 s of 1 s clips: clips 14 and 15 are in the video; counted in 2 s clips they would not be
    truth = {"qid": 1, "duration": 20.0, "relevant_windows": [[14.0, 16.0]], "relevant_clip_ids": [14, 15],
             "saliency_scores": [[4, 4, 4], [2, 2, 2]]}  # fmt: skip
    prediction = {"qid": 1, "pred_relevant_windows": [[14.0, 16.0, 1.0]], "pred_saliency_scores": [0.0] * 14 + [1.0]}
    metrics = score_predictions([prediction], [truth], clip_len=1.0)
    assert metrics["HL-min-VeryGood-Hit1"] == 100.0 and metrics["MR-full-R1@0.5"] == 100.0
    with pytest.raises(UserError, match="clip 15 is outside the video"):
        score_predictions([prediction], [truth], clip_len=2.0)


def test_a_query_without_salient_clips_is_scored_with_the_others():
    lines = [
        {"qid": 1, "query": "a", "vid": "v1", "duration": 10.0, "relevant_windows": [[0.0, 4.0]],
         "relevant_clip_ids": [0, 1], "saliency_scores": [[4, 4, 4], [2, 2, 2]]},
        {"qid": 2, "query": "b", "vid": "v2", "duration": 10.0, "relevant_windows": [[2.0, 4.0]],
         "relevant_clip_ids": [], "saliency_scores": []},
    ]  # fmt: skip
    truths = [annotation_to_record(parse_annotation(line, f"gt:{i}", 2.0, True)) for i, line in enumerate(lines)]
    predictions = [
        {"qid": q, "pred_relevant_windows": [[0.0, 4.0, 1.0]], "pred_saliency_scores": [1.0, 0, 0, 0, 0]}
        for q in (1, 2)
    ]
    assert score_predictions(predictions, truths, clip_len=2.0)["HL-min-VeryGood-Hit1"] == 50.0  # a hit, a miss


def test_predictions_are_written_before_they_are_scored(tiny_run, tiny_data, tmp_path, capsys, monkeypatch):
    def refuse(self, predictions):
        raise UserError("gt.jsonl:1: a ground truth the scorer refuses")

    monkeypatch.setattr(evaluation.CheckpointSplit, "score", refuse)
    out = tmp_path / "preds.jsonl"
    assert (
        main(["predict", "--checkpoint", str(tiny_run / "best.ckpt"), "--data", str(tiny_data), "--out", str(out)]) == 2
    )
    assert "the scorer refuses" in capsys.readouterr().err
    assert len(read_predictions(out)) == 8  # the predictions are kept
