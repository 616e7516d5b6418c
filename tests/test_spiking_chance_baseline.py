"""The chance baseline that SpikingVTG's demo accuracy is compared with (vtg/baselines.py)."""

from __future__ import annotations

import json

import pytest

from vtg.baselines import main, random_predictions
from vtg.data.annotations import Annotation
from vtg.data.synth import write_synthetic


def annotation(qid: int, duration: float, windows: list[tuple[float, float]]) -> Annotation:
    return Annotation(qid=qid, query="q", vid=f"v{qid}", duration=duration, windows=windows)


def test_windows_follow_the_prior_and_stay_inside_the_video():
    prior = [annotation(0, 60.0, [(10.0, 16.0)]), annotation(1, 60.0, [(0.0, 6.0), (20.0, 26.0)])]  # 3 clips long
    queries = [annotation(10 + i, 31.0, [(0.0, 2.0)]) for i in range(20)]
    predictions = random_predictions(queries, 2.0, prior, seed=3, max_windows=5)
    for line in predictions:
        assert len(line["pred_saliency_scores"]) == 16  # ceil(31 / 2) clips
        scores = [window[2] for window in line["pred_relevant_windows"]]
        assert scores == sorted(scores, reverse=True) and len(scores) == 5
        for start, end, _ in line["pred_relevant_windows"]:
            assert 0.0 <= start < end <= 31.0 and start % 2.0 == 0.0
            assert end - start == pytest.approx(6.0) or end == 31.0
    assert predictions == random_predictions(queries, 2.0, prior, seed=3, max_windows=5)  # seeded
    assert predictions != random_predictions(queries, 2.0, prior, seed=4, max_windows=5)


def test_command_writes_predictions_and_prints_metrics(tmp_path, capsys):
    write_synthetic(tmp_path / "data", seed=0, preset_name="tiny")
    assert main(["--data", str(tmp_path / "data"), "--split", "val", "--out", str(tmp_path / "p.jsonl")]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0.0 <= metrics["MR-full-R1@0.5"] <= 100.0 and "HL-min-VeryGood-Hit1" in metrics
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "-1"], "option --seed"),
        (["--seed", str(2**40)], "option --seed"),
        (["--max-windows", "0"], "option --max-windows"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, extra, message):
    write_synthetic(tmp_path / "data", seed=0, preset_name="tiny")
    capsys.readouterr()
    assert main(["--data", str(tmp_path / "data"), "--split", "val", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
