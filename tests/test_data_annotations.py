"""Annotation lines: valid QVHighlights lines load, every kind of bad line is one located error."""

import json
from pathlib import Path

import pytest
from real_data import REAL_DATA

from vtg.data.annotations import annotation_to_record, read_annotations
from vtg.errors import UserError

GOOD = {
    "qid": 7,
    "query": "a man plays guitar",
    "vid": "v1",
    "duration": 20,
    "relevant_windows": [[2, 6], [10, 14]],
    "relevant_clip_ids": [1, 2, 5, 6],
    "saliency_scores": [[1, 2, 3], [4, 4, 4], [0, 1, 2], [2, 2, 2]],
}


def write_lines(path: Path, *lines) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def message_for(tmp_path, *lines, **kwargs) -> str:
    path = write_lines(tmp_path / "ann.jsonl", *lines)
    with pytest.raises(UserError) as error:
        read_annotations(path, **kwargs)
    return str(error.value)


def test_valid_lines_round_trip(tmp_path):
    path = write_lines(tmp_path / "ann.jsonl", GOOD, "", {**GOOD, "qid": 8, "extra": "kept"})
    first, second = read_annotations(path, clip_len=2.0)
    assert first.windows == [(2.0, 6.0), (10.0, 14.0)]
    assert first.has_saliency and first.saliency_scores[1] == [4.0, 4.0, 4.0]
    assert first.location == f"{path}:1" and second.location == f"{path}:3"
    assert annotation_to_record(second)["extra"] == "kept"
    assert annotation_to_record(first)["relevant_windows"] == [[2.0, 6.0], [10.0, 14.0]]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", ":1: not valid JSON"),
        ("[1, 2]", ":1: expected a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "vid"}, ":1: field 'vid': missing"),
        ({**GOOD, "duration": float("nan")}, "field 'duration': expected a finite number"),
        ({**GOOD, "duration": -3}, "field 'duration': expected a positive duration"),
        ({**GOOD, "relevant_windows": [[2, 26]]}, "'relevant_windows'[0]: window [2.0, 26.0] is outside the video"),
        ({**GOOD, "relevant_windows": [[-1, 2]]}, "is outside the video"),
        ({**GOOD, "relevant_windows": [[6, 2]]}, "is empty"),
        # within the tolerance of the end, but empty once clamped to the duration
        ({**GOOD, "relevant_windows": [[20.0005, 20.0009]]}, "starts at the video's end (20.0 s)"),
        ({**GOOD, "relevant_windows": [[2, "x"]]}, "field 'relevant_windows'[0][1]: expected a number"),
        ({**GOOD, "relevant_windows": []}, "field 'relevant_windows': no window given"),
        ({**GOOD, "saliency_scores": [[1, 2, 3]]}, "field 'saliency_scores': expected 4 items, got 1"),
        ({**GOOD, "saliency_scores": [[1, 2, 9]] * 4}, "field 'saliency_scores'[0]: expected one or more scores"),
        ({**GOOD, "relevant_clip_ids": [1, 2, 5, 10]}, "field 'relevant_clip_ids'[3]: clip 10 is outside the video"),
        ({**GOOD, "qid": True}, "field 'qid': expected an integer"),
        ({**GOOD, "relevant_clip_ids": [1, 2, 2, 5]}, "field 'relevant_clip_ids'[2]: clip 2 listed twice"),
        ({**GOOD, "saliency_scores": [[1, 2, 3], [1, 2, 3], [1, 2], [1, 2, 3]]}, "'saliency_scores'[2]: 2 annotators"),
    ],
)
def test_bad_line_names_file_line_and_field(tmp_path, line, expected):
    message = message_for(tmp_path, line, clip_len=2.0)
    assert str(tmp_path / "ann.jsonl") in message and expected in message


def test_duplicate_qid_names_both_lines(tmp_path):
    message = message_for(tmp_path, GOOD, GOOD)
    assert ":2: field 'qid': 7 already used at" in message and ":1" in message


def test_duplicate_qid_of_another_type_names_both_lines(tmp_path):
    """7 and "7" read the same qid7.npz."""
    message = message_for(tmp_path, GOOD, {**GOOD, "qid": "7"})
    assert ":2: field 'qid': '7' already used at" in message


def test_one_number_of_annotators_per_split(tmp_path):
    two = {**GOOD, "qid": 8, "saliency_scores": [[1, 2]] * 4}
    message = message_for(tmp_path, GOOD, two)
    assert ":2: field 'saliency_scores': 2 annotators, but 3 at" in message and "ann.jsonl:1" in message


def test_missing_and_empty_file(tmp_path):
    with pytest.raises(UserError, match="annotation file not found"):
        read_annotations(tmp_path / "nope.jsonl")
    assert "annotation file is empty" in message_for(tmp_path, "")


def test_test_split_without_windows(tmp_path):
    line = {k: v for k, v in GOOD.items() if k not in ("relevant_windows",)}
    assert "field 'relevant_windows': missing" in message_for(tmp_path, line)
    (annotation,) = read_annotations(tmp_path / "ann.jsonl", require_windows=False)
    assert annotation.windows == []


@pytest.mark.skipif(not (REAL_DATA / "qvhighlights").is_dir(), reason="shared QVHighlights annotations absent")
def test_reads_qvhighlights_val():
    annotations = read_annotations(REAL_DATA / "qvhighlights" / "highlight_val_release.jsonl", clip_len=2.0)
    assert len(annotations) == 1550
    assert all(a.has_saliency and len(a.saliency_scores[0]) == 3 for a in annotations)
