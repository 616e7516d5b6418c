"""Hand-computed Charades-STA / TACoS (R1, mIoU) and YouTube Highlights (mAP per domain) cases."""

import pytest

from vtg.errors import UserError
from vtg.metrics import evaluate, evaluate_r1_miou, evaluate_youtube_highlights


def moment(qid, window, duration=30):
    return {"qid": qid, "query": "a person opens a door", "duration": duration, "relevant_windows": [window]}


def test_r1_and_miou_of_the_top1_window():
    truth = [moment(1, [0, 10]), moment(2, [10, 20]), moment(3, [0, 4])]
    submission = [
        {"qid": 1, "pred_relevant_windows": [[5, 15, 0.9], [0, 10, 0.1]]},  # IoU 1/3 (first listed)
        {"qid": 2, "pred_relevant_windows": [[10, 18, 0.9]]},  # IoU 0.8
        {"qid": 3, "pred_relevant_windows": [[0, 4, 0.9]]},  # IoU 1
    ]
    brief = evaluate_r1_miou(submission, truth)["brief"]
    assert brief == {
        "MR-R1@0.3": 100.0,
        "MR-R1@0.5": round(200 / 3, 2),
        "MR-R1@0.7": round(200 / 3, 2),
        "MR-mIoU": round(100 * (1 / 3 + 0.8 + 1) / 3, 2),
    }
    assert evaluate("tacos", submission, truth) == evaluate("charades", submission, truth)


def video(qid, domain, clip_ids, scores):
    return {"qid": qid, "query": domain, "relevant_clip_ids": clip_ids, "saliency_scores": scores}


def test_youtube_map_per_domain():
    truth = [
        video(1, "dog", [0, 2], [[1], [1]]),  # labels 1, 0, 1
        video(2, "dog", [1], [[0]]),  # listed with saliency 0: no highlight, AP 0
        video(3, "surfing", [0], [[1]]),  # labels 1, 0
        video(4, "surfing", [5], [[1]]),  # clip 5 has no predicted score: not ranked, AP 0
    ]
    submission = [
        {"qid": 1, "pred_saliency_scores": [0.9, 0.8, 0.7]},
        {"qid": 2, "pred_saliency_scores": [0.9, 0.8]},
        {"qid": 3, "pred_saliency_scores": [0.2, 0.9]},
        {"qid": 4, "pred_saliency_scores": [0.2, 0.9, 0.1]},
    ]
    brief = evaluate_youtube_highlights(submission, truth)["brief"]
    dog = (0.5 + 0.5 * (0.5 + 2 / 3) / 2 + 0.0) / 2
    surfing = (1.0 * (0 + 0.5) / 2 + 0.0) / 2  # video 3: the positive is ranked second
    assert brief == {
        "HL-mAP-dog": round(100 * dog, 2),
        "HL-mAP-surfing": round(100 * surfing, 2),
        "HL-mAP": round(100 * (dog + surfing) / 2, 2),
    }
    assert list(brief) == ["HL-mAP-dog", "HL-mAP-surfing", "HL-mAP"]


def test_youtube_scores_beyond_the_labelled_clips_are_not_ranked():
    """UniVTG cuts predictions and labels to the shorter: with num_clips 2, a third predicted clip is no negative."""
    truth = [{**video(1, "dog", [1], [[4]]), "num_clips": 2}]
    cut = evaluate_youtube_highlights([{"qid": 1, "pred_saliency_scores": [0.1, 0.5, 0.9]}], truth)["brief"]
    assert (
        cut["HL-mAP"]
        == evaluate_youtube_highlights([{"qid": 1, "pred_saliency_scores": [0.1, 0.5]}], truth)["brief"]["HL-mAP"]
        == 100.0
    )
    two = evaluate_youtube_highlights(
        [{"qid": 1, "pred_saliency_scores": [0.1, 0.5, 0.9]}], [{**truth[0], "num_clips": 2.0}]
    )
    assert two["brief"]["HL-mAP"] == 100.0  # 2.0 is 2, as for qids and clip ids
    for bad in (0, 1.5, True):
        with pytest.raises(UserError, match="field 'num_clips': expected a number of clips >= 1"):
            evaluate_youtube_highlights([{"qid": 1, "pred_saliency_scores": [0.1]}], [{**truth[0], "num_clips": bad}])


def test_youtube_video_without_highlight_and_missing_domain():
    truth = [video(1, "dog", [], []), video(2, "dog", [0], [[4, 4, 4]])]
    submission = [{"qid": 1, "pred_saliency_scores": [0.5]}, {"qid": 2, "pred_saliency_scores": [0.5, 0.1]}]
    assert evaluate_youtube_highlights(submission, truth)["brief"] == {"HL-mAP-dog": 50.0, "HL-mAP": 50.0}
    with pytest.raises(UserError, match=r"ground truth\[0\]: field 'query': expected the video's domain name"):
        evaluate_youtube_highlights(submission[:1], [{"qid": 1, "relevant_clip_ids": [], "saliency_scores": []}])
