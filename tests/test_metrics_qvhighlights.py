"""Hand-computed QVHighlights cases: R1, mAP and the cut at 10, length splits, HD mAP and HIT@1."""

import math

import numpy as np
import pytest

from vtg.data.annotations import parse_annotation
from vtg.errors import UserError
from vtg.metrics import evaluate_qvhighlights
from vtg.metrics.moment_retrieval import windows_in_split


def gt(qid, windows, duration=150, clip_ids=(), scores=()):
    return {
        "qid": qid,
        "query": f"q{qid}",
        "vid": f"v{qid}",
        "duration": duration,
        "relevant_windows": windows,
        "relevant_clip_ids": list(clip_ids),
        "saliency_scores": list(scores),
    }


def pred(qid, windows, saliency=None):
    record = {"qid": qid, "pred_relevant_windows": windows}
    if saliency is not None:
        record["pred_saliency_scores"] = saliency
    return record


def test_r1_uses_first_listed_window_and_nearest_gt():
    truth = [gt(1, [[0, 10], [20, 30]]), gt(2, [[40, 60]])]
    # q1: the first listed window [21, 30] (not the best scored) has IoU 0.9 with [20, 30];
    # q2: [50, 60] has IoU exactly 0.5 with [40, 60]
    submission = [pred(1, [[21, 30, 0.1], [0, 10, 0.9]]), pred(2, [[50, 60, 0.9]])]
    r1 = evaluate_qvhighlights(submission, truth)["full"]["MR-R1"]
    assert r1["0.5"] == 100.0
    assert r1["0.7"] == 50.0
    assert r1["0.9"] == 50.0
    assert r1["0.95"] == 0.0


def test_map_cuts_the_submission_at_ten_listed_windows():
    truth = [gt(1, [[0, 10]])]
    wrong = [[60 + 2 * i, 80 + 2 * i, 0.9 - 0.01 * i] for i in range(10)]
    # the right window, listed 11th, is dropped although it has the best score
    cut = evaluate_qvhighlights([pred(1, [*wrong, [0, 10, 0.95]])], truth)
    assert cut["brief"]["MR-full-mAP"] == 0.0
    # listed 10th, it is kept and ranked first by its score
    kept = evaluate_qvhighlights([pred(1, [*wrong[:9], [0, 10, 0.95]])], truth)
    assert kept["brief"]["MR-full-mAP"] == 100.0


def test_map_with_several_gt_windows_and_duplicates():
    truth = [gt(1, [[0, 10], [20, 30]]), gt(2, [[40, 60]])]
    # q1: tp, duplicate fp, tp -> AP 5/6 at every threshold; q2: IoU 0.75 -> AP 1 up to 0.75, then 0
    submission = [pred(1, [[0, 10, 0.9], [0, 10, 0.8], [20, 30, 0.7]]), pred(2, [[45, 60, 0.5]])]
    result = evaluate_qvhighlights(submission, truth)
    assert result["full"]["MR-mAP"]["0.5"] == round(100 * (5 / 6 + 1) / 2, 2)
    assert result["full"]["MR-mAP"]["0.75"] == round(100 * (5 / 6 + 1) / 2, 2)
    assert result["full"]["MR-mAP"]["0.8"] == round(100 * (5 / 6) / 2, 2)
    expected_average = np.mean([(5 / 6 + 1) / 2] * 6 + [(5 / 6) / 2] * 4)
    assert result["brief"]["MR-full-mAP"] == round(100 * expected_average, 2)


def test_split_membership_by_window_length():
    windows = np.array([[0, 0], [0, 10], [0, 10.5], [0, 30], [0, 30.5], [0, 150]])
    assert windows_in_split(windows, 0, 10).tolist() == [[0, 10]]
    assert windows_in_split(windows, 10, 30).tolist() == [[0, 10.5], [0, 30]]
    assert windows_in_split(windows, 30, 150).tolist() == [[0, 30.5], [0, 150]]


def test_split_scores_only_the_windows_in_the_split():
    # q1 has a short (10 s) and a middle (30 s) window; its top-1 matches the middle one only
    truth = [gt(1, [[0, 10], [40, 70]]), gt(2, [[0, 31]], duration=31)]
    submission = [pred(1, [[40, 70, 0.9]]), pred(2, [[0, 31, 0.9]])]
    result = evaluate_qvhighlights(submission, truth)
    assert result["full"]["MR-R1"]["0.5"] == 100.0
    assert result["short"]["MR-R1"]["0.5"] == 0.0  # q1 against [0, 10] only
    assert result["middle"]["MR-R1"]["0.5"] == 100.0  # q1 against [40, 70] only
    assert result["long"]["MR-R1"]["0.5"] == 100.0  # q2 only
    assert result["brief"]["MR-short-mAP"] == 0.0
    assert result["brief"]["MR-middle-mAP"] == 100.0
    assert result["brief"]["MR-long-mAP"] == 100.0


def test_empty_split_is_nan():
    result = evaluate_qvhighlights([pred(1, [[40, 60, 0.9]])], [gt(1, [[40, 60]])])
    assert math.isnan(result["brief"]["MR-short-mAP"])
    assert math.isnan(result["long"]["MR-R1"]["0.5"])
    assert result["brief"]["MR-middle-mAP"] == 100.0


HD_TRUTH = gt(1, [[0, 2]], duration=8, clip_ids=[0, 2], scores=[[4, 2, 1], [3, 3, 0]])


def test_highlight_map_per_threshold():
    # clips 1 and 3 carry no saliency (0 for every annotator); ranking: clip 1, 2, 3, 0
    result = evaluate_qvhighlights([pred(1, [[0, 2, 1]], [0.1, 0.9, 0.5, 0.2])], [HD_TRUTH])
    # Fair: annotators 0 and 1 label clips 0, 2 -> AP 1/2 each; annotator 2 has no positive -> 0
    assert result["HL-min-Fair"]["HL-mAP"] == round(100 / 3, 2)
    # Good: annotator 0 -> 1/2, annotator 1 labels clip 2 only (rank 2) -> 1/2, annotator 2 -> 0
    assert result["HL-min-Good"]["HL-mAP"] == round(100 / 3, 2)
    # VeryGood: annotator 0 labels clip 0 only (rank 4) -> 1/4
    assert result["HL-min-VeryGood"]["HL-mAP"] == round(100 * 0.25 / 3, 2)
    # the top clip (1) has no saliency: a miss at every threshold
    assert result["brief"]["HL-min-Fair-Hit1"] == 0.0


def test_highlight_scores_are_cut_or_zero_padded():
    # padded with zeros to 4 clips: [-1, -2, 0, 0]; clips 2, 3 tie above clips 0, 1
    padded = evaluate_qvhighlights([pred(1, [[0, 2, 1]], [-1.0, -2.0])], [HD_TRUTH])
    # Fair, annotator 0: level {2, 3} (1 positive of 2), then clip 0 (2 of 3) -> mean(2/3, 2/3)
    # annotator 1 the same, annotator 2 none
    assert padded["HL-min-Fair"]["HL-mAP"] == round(100 * (2 / 3 + 2 / 3) / 3, 2)
    # cut to 4 clips: the large fifth score does not count in the ranking
    cut = evaluate_qvhighlights([pred(1, [[0, 2, 1]], [0.9, 0.1, 0.8, 0.0, 5.0])], [HD_TRUTH])
    assert cut["HL-min-Fair"]["HL-mAP"] == round(100 * 2 / 3, 2)


def test_query_without_relevant_clips_has_only_negatives():
    empty = gt(2, [[0, 2]], duration=8)
    submission = [pred(1, [[0, 2, 1]], [0.9, 0.1, 0.8, 0.0]), pred(2, [[0, 2, 1]], [0.9, 0.1, 0.8, 0.0])]
    result = evaluate_qvhighlights(submission, [HD_TRUTH, empty])
    # HD_TRUTH alone: Fair AP 1, 1, 0 and a hit; the empty query adds AP 0, 0, 0 and a miss
    assert result["HL-min-Fair"] == {"HL-mAP": round(100 * 2 / 6, 2), "HL-Hit1": 50.0}


def test_highlight_clip_length():
    # with 1 s clips the 8 s video has 8 clips; clips 4-7 carry no saliency and rank below clips 0, 2
    result = evaluate_qvhighlights([pred(1, [[0, 2, 1]], [0.9, 0.1, 0.8] + [0.0] * 5)], [HD_TRUTH], clip_len=1.0)
    assert result["HL-min-Fair"]["HL-mAP"] == round(100 * 2 / 3, 2)
    with pytest.raises(UserError, match=r"clip 2 is outside the video \(1 clips of 8 s\)"):
        evaluate_qvhighlights([pred(1, [[0, 2, 1]], [0.9])], [HD_TRUTH], clip_len=8.0)


def test_an_annotated_partial_last_clip_is_scored_as_the_loader_reads_it():
    # 5 s of 2 s clips: the loader accepts clip 2 (4-5 s, the features' third clip); the metric counts it
    line = gt(1, [[4, 5]], duration=5, clip_ids=[0, 2], scores=[[1, 1, 1], [4, 4, 4]])
    parse_annotation(line, "gt.jsonl:1", clip_len=2.0, require_windows=True)
    result = evaluate_qvhighlights([pred(1, [[4, 5, 1]], [0.1, 0.2, 0.9])], [line])
    assert result["HL-min-VeryGood"] == {"HL-mAP": 100.0, "HL-Hit1": 100.0}
    with pytest.raises(UserError, match=r"clip 3 is outside the video \(2 clips of 2 s\)"):
        evaluate_qvhighlights([pred(1, [[4, 5, 1]], [0.1])], [{**line, "relevant_clip_ids": [0, 3]}])


def test_highlight_hit1():
    truth = [gt(q, [[0, 2]], duration=8, clip_ids=[1], scores=[[3, 1, 0]]) for q in range(4)]
    submission = [
        pred(0, [[0, 2, 1]], [0, 1, 0, 0]),  # clip 1: hit at Fair and Good, not VeryGood
        pred(1, [[0, 2, 1]], [0, 0, 0, 0, 5]),  # top clip 4 is past the 4 clips: a miss
        pred(2, [[0, 2, 1]], [0.5, 0.5, 0, 0]),  # tie: the first maximum, clip 0, is a miss
        pred(3, [[0, 2, 1]], [0, 1]),  # short list: clip 1, a hit
    ]
    brief = evaluate_qvhighlights(submission, truth)["brief"]
    assert brief["HL-min-Fair-Hit1"] == 50.0
    assert brief["HL-min-Good-Hit1"] == 50.0
    assert brief["HL-min-VeryGood-Hit1"] == 0.0


def test_official_layout_and_key_names():
    result = evaluate_qvhighlights([pred(1, [[0, 2, 1]], [0.1, 0.9, 0.5, 0.2])], [HD_TRUTH])
    assert list(result) == ["brief", "HL-min-Fair", "HL-min-Good", "HL-min-VeryGood", "full", "long", "middle", "short"]
    assert list(result["brief"]) == [
        "MR-full-R1@0.5",
        "MR-full-R1@0.7",
        "MR-full-mAP",
        "MR-full-mAP@0.5",
        "MR-full-mAP@0.75",
        "MR-long-mAP",
        "MR-middle-mAP",
        "MR-short-mAP",
        "HL-min-Fair-mAP",
        "HL-min-Fair-Hit1",
        "HL-min-Good-mAP",
        "HL-min-Good-Hit1",
        "HL-min-VeryGood-mAP",
        "HL-min-VeryGood-Hit1",
    ]
    assert list(result["full"]["MR-mAP"])[-1] == "average"
    assert len(result["full"]["MR-R1"]) == 10


def test_only_the_tasks_present_in_the_submission_are_scored():
    windows_only = evaluate_qvhighlights([pred(1, [[0, 2, 1]])], [HD_TRUTH])
    assert "HL-min-Fair" not in windows_only and "full" in windows_only
    saliency_only = evaluate_qvhighlights([{"qid": 1, "pred_saliency_scores": [1, 0, 0, 0]}], [HD_TRUTH])
    assert "full" not in saliency_only
    assert saliency_only["brief"]["HL-min-Fair-Hit1"] == 100.0


def test_rounding_to_two_decimals():
    truth = [gt(q, [[0, 10]]) for q in range(3)]
    submission = [pred(0, [[0, 10, 1]]), pred(1, [[50, 60, 1]]), pred(2, [[50, 60, 1]])]
    assert evaluate_qvhighlights(submission, truth)["brief"]["MR-full-R1@0.5"] == pytest.approx(33.33, abs=0)


def test_errors_name_the_record_for_lists_held_in_memory():
    with pytest.raises(UserError, match=r"ground truth\[1\]: field 'relevant_windows': window 0 \[5, 3\]"):
        evaluate_qvhighlights([pred(1, [[0, 2, 1]]), pred(2, [[0, 2, 1]])], [gt(1, [[0, 2]]), gt(2, [[5, 3]])])
    saliency_only = {"qid": 1, "pred_saliency_scores": [1.0]}
    with pytest.raises(UserError, match=r"ground truth\[0\]: missing field 'duration'"):
        evaluate_qvhighlights([saliency_only], [{"qid": 1, "relevant_clip_ids": [0], "saliency_scores": [[4, 4, 4]]}])
    with pytest.raises(UserError, match=r"submission\[0\]: field 'pred_saliency_scores'"):
        evaluate_qvhighlights([{"qid": 1, "pred_saliency_scores": []}], [HD_TRUTH])
