"""The seeded submission generator behind the parity checks: repeatable, and exercising the official rules."""

import json
from pathlib import Path

import numpy as np

from vtg.metrics.noisy_submission import noisy_submission

GT = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "metrics" / "small_gt.jsonl").open()]


def test_same_seed_same_submission_and_different_seed_differs():
    assert noisy_submission(GT, 3) == noisy_submission(GT, 3)
    assert noisy_submission(GT, 3) != noisy_submission(GT, 4)


def test_more_than_ten_windows_inside_the_video_and_saliency_lengths_vary():
    submission = noisy_submission(GT * 4, 5)
    lengths_match = []
    for record, truth in zip(submission, GT * 4):
        windows = np.array(record["pred_relevant_windows"])  # (n, 3)
        assert record["qid"] == truth["qid"]
        assert 11 <= len(windows) <= 15
        assert (windows[:, 0] >= 0).all() and (windows[:, 0] <= windows[:, 1]).all()
        assert (windows[:, 1] <= truth["duration"]).all()
        lengths_match.append(len(record["pred_saliency_scores"]) == int(truth["duration"] / 2))
    assert any(lengths_match) and not all(lengths_match)
