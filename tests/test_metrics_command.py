"""``vtg eval``: output formats, and one-line errors with exit status 2 for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vtg.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
SMALL_GT = FIXTURES / "small_gt.jsonl"
SMALL_SUB = FIXTURES / "small_submission.jsonl"

GT_LINE = {"qid": 1, "query": "q", "vid": "v", "duration": 20, "relevant_windows": [[2, 8]]}
SUB_LINE = {"qid": 1, "pred_relevant_windows": [[2, 8, 0.9]]}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def run_eval(tmp_path, gt_records, sub_records, *extra):
    gt = write_jsonl(tmp_path / "gt.jsonl", gt_records)
    sub = write_jsonl(tmp_path / "sub.jsonl", sub_records)
    return main(["eval", "--submission", str(sub), "--gt", str(gt), *extra])


def test_table_by_default(capsys):
    assert main(["eval", "--submission", str(SMALL_SUB), "--gt", str(SMALL_GT)]) == 0
    out = capsys.readouterr().out
    expected = json.loads((FIXTURES / "official_small.json").read_text())["metrics"]["brief"]
    assert f"{len(SMALL_GT.read_text().splitlines())} queries" in out
    for name, value in expected.items():
        assert any(line.split() == [name, f"{value:.2f}"] for line in out.splitlines()), name


def test_out_over_an_input_is_refused(tmp_path, capsys):
    gt = write_jsonl(tmp_path / "gt.jsonl", [GT_LINE])
    sub = write_jsonl(tmp_path / "sub.jsonl", [SUB_LINE])
    for target, option in ((gt, "--gt"), (sub, "--submission")):
        assert main(["eval", "--submission", str(sub), "--gt", str(gt), "--out", str(target)]) == 2
        assert f"is the file given to {option}" in capsys.readouterr().err
    assert json.loads(gt.read_text()) == GT_LINE and json.loads(sub.read_text()) == SUB_LINE


def test_json_and_out_file(tmp_path, capsys):
    out_file = tmp_path / "results" / "metrics.json"
    argv = ["eval", "--submission", str(SMALL_SUB), "--gt", str(SMALL_GT), "--json", "--out", str(out_file)]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out_file.read_text())
    assert printed["brief"]["MR-full-mAP"] == printed["full"]["MR-mAP"]["average"]


def test_options_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "eval.yaml"
    config.write_text(f"submission: {SMALL_SUB}\ngt: {SMALL_GT}\njson: true\n")
    assert main(["eval", "--config", str(config)]) == 0
    assert "MR-full-mAP" in json.loads(capsys.readouterr().out)["brief"]
    assert main(["eval", "--gt", str(SMALL_GT)]) == 2
    assert "field 'submission': required" in error_of(capsys)


def test_nan_is_null_in_json(tmp_path, capsys):
    assert run_eval(tmp_path, [GT_LINE], [SUB_LINE], "--json") == 0
    brief = json.loads(capsys.readouterr().out)["brief"]
    assert brief["MR-middle-mAP"] is None and brief["MR-short-mAP"] == 100.0
    assert run_eval(tmp_path, [GT_LINE], [SUB_LINE]) == 0
    assert ["MR-middle-mAP", "n/a"] in [line.split() for line in capsys.readouterr().out.splitlines()]


def test_other_datasets(tmp_path, capsys):
    assert run_eval(tmp_path, [GT_LINE], [SUB_LINE], "--dataset", "charades", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "brief": {"MR-R1@0.3": 100.0, "MR-R1@0.5": 100.0, "MR-R1@0.7": 100.0, "MR-mIoU": 100.0}
    }
    gt = {"qid": 1, "query": "dog", "relevant_clip_ids": [1], "saliency_scores": [[1]]}
    assert run_eval(tmp_path, [gt], [{"qid": 1, "pred_saliency_scores": [0, 1]}], "--dataset", "youtube") == 0
    assert "HL-mAP-dog" in capsys.readouterr().out


def error_of(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


@pytest.mark.parametrize(
    ("gt_records", "sub_records", "expected"),
    [
        ([GT_LINE, "{bad json"], [SUB_LINE], "gt.jsonl:2: not valid JSON"),
        ([GT_LINE], ["[1, 2]"], "sub.jsonl:1: expected a JSON object"),
        ([{k: v for k, v in GT_LINE.items() if k != "duration"}], [SUB_LINE], "gt.jsonl:1: missing field 'duration'"),
        ([GT_LINE, {**GT_LINE, "qid": 2}], [SUB_LINE, {"qid": 2}], "sub.jsonl:2: missing field 'pred_relevant_w"),
        ([{**GT_LINE, "relevant_windows": [[8, 2]]}], [SUB_LINE], "gt.jsonl:1: field 'relevant_windows': window 0"),
        ([{**GT_LINE, "relevant_windows": [[2, 30]]}], [SUB_LINE], "gt.jsonl:1: field 'relevant_windows': window 0"),
        ([GT_LINE], [{"qid": 1, "pred_relevant_windows": [[-1, 8, 0.9]]}], "window 0 [-1, 8] is outside the video"),
        ([GT_LINE], [{"qid": 1, "pred_relevant_windows": [[2, 8]]}], "item 0 should be 3 numbers"),
        ([GT_LINE], ['{"qid": 1, "pred_relevant_windows": [[2, 8, NaN]]}'], "sub.jsonl:1: field 'pred_relevant_w"),
        ([{**GT_LINE, "relevant_windows": [[2, 8, 1]]}], [SUB_LINE], "item 0 should be 2 numbers"),
        (['{"qid": 1, "duration": Infinity, "relevant_windows": [[2, 8]]}'], [SUB_LINE], "expected a finite number"),
        ([GT_LINE, GT_LINE], [SUB_LINE], "gt.jsonl:2: duplicate qid 1"),
        ([GT_LINE], [{"qid": 1, "pred_relevant_windows": []}], "no predicted window"),
        ([GT_LINE], [{"qid": 1}], "sub.jsonl:1: missing field 'pred_relevant_windows' or 'pred_saliency_scores'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, gt_records, sub_records, expected):
    assert run_eval(tmp_path, gt_records, sub_records) == 2
    assert expected in error_of(capsys)


def test_an_absurd_duration_with_saliency_is_one_line(tmp_path, capsys):
    """Highlight scoring builds an array per clip: 1e300 s made numpy raise, 1e12 s asked for 11 TiB."""
    gt = {**GT_LINE, "duration": 1e12, "relevant_clip_ids": [1], "saliency_scores": [[1, 2, 3]]}
    sub = {"qid": 1, "pred_relevant_windows": [[2, 8, 0.9]], "pred_saliency_scores": [0.5, 0.2]}
    assert run_eval(tmp_path, [gt], [sub]) == 2
    assert "gt.jsonl:1: field 'duration': 1e+12 s makes more than 10000000 clips of 2 s" in error_of(capsys)


def test_nan_saliency(tmp_path, capsys):
    gt = {**GT_LINE, "relevant_clip_ids": [1], "saliency_scores": [[1, 2, 3]]}
    sub = '{"qid": 1, "pred_relevant_windows": [[2, 8, 0.9]], "pred_saliency_scores": [0.5, NaN]}'
    assert run_eval(tmp_path, [gt], [sub]) == 2
    assert "sub.jsonl:1: field 'pred_saliency_scores': item 1: expected a finite number" in error_of(capsys)


def test_saliency_fields_checked(tmp_path, capsys):
    sub = {**SUB_LINE, "pred_saliency_scores": [0.5] * 10}
    assert run_eval(tmp_path, [GT_LINE], [sub]) == 2
    assert "gt.jsonl:1: missing field 'relevant_clip_ids'" in error_of(capsys)
    gt = {**GT_LINE, "relevant_clip_ids": [10], "saliency_scores": [[1, 2, 3]]}
    assert run_eval(tmp_path, [gt], [sub]) == 2
    assert "gt.jsonl:1: field 'relevant_clip_ids': clip 10 is outside the video (10 clips" in error_of(capsys)
    gt = {**GT_LINE, "relevant_clip_ids": [1, 2], "saliency_scores": [[1, 2, 3]]}
    assert run_eval(tmp_path, [gt], [sub]) == 2
    assert "gt.jsonl:1: field 'saliency_scores': 1 rows for 2 relevant_clip_ids" in error_of(capsys)


def test_qids_that_differ_are_named(tmp_path, capsys):
    gt = [{**GT_LINE, "qid": q} for q in range(1, 9)]
    sub = [{**SUB_LINE, "qid": q} for q in [1, 2, 99]]
    assert run_eval(tmp_path, gt, sub) == 2
    err = error_of(capsys)
    assert "sub.jsonl: field 'qid'" in err
    assert "6 qid(s) of" in err and "(e.g. 3, 4, 5, 6, 7)" in err
    assert "1 qid(s) not in" in err and "(e.g. 99)" in err


def test_qid_type_mismatch_is_explained(tmp_path, capsys):
    assert run_eval(tmp_path, [GT_LINE], [{**SUB_LINE, "qid": "1"}]) == 2
    assert 'qids compare with their JSON type, so 1 and "1" differ' in error_of(capsys)
    # 1.0 is the number 1, as for the data loader and Python's dict keys in the official evaluator
    assert run_eval(tmp_path, [GT_LINE], [{**SUB_LINE, "qid": 1.0}]) == 0
    assert run_eval(tmp_path, [{**GT_LINE, "qid": 1.0}], [SUB_LINE]) == 0


def test_missing_file_and_tolerance(tmp_path, capsys):
    assert main(["eval", "--submission", str(tmp_path / "none.jsonl"), "--gt", str(SMALL_GT)]) == 2
    assert f"{tmp_path / 'none.jsonl'}: file not found" in error_of(capsys)
    late = {"qid": 1, "pred_relevant_windows": [[2, 25, 0.9]]}  # 5 s after a 20 s video
    assert run_eval(tmp_path, [GT_LINE], [late]) == 2
    assert "window tolerance 2 s, vtg eval --window-tolerance" in error_of(capsys)
    assert run_eval(tmp_path, [GT_LINE], [late], "--window-tolerance", "5") == 0
    capsys.readouterr()
    assert run_eval(tmp_path, [GT_LINE], [SUB_LINE], "--window-tolerance", "-1") == 2
    assert "window_tolerance" in error_of(capsys)
    assert run_eval(tmp_path, [GT_LINE], [SUB_LINE], "--clip-len", "0") == 2
    assert "field 'clip_len': expected a number > 0" in error_of(capsys)


def test_metrics_import_no_torch():
    code = "import sys, vtg.metrics, vtg.metrics.command; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
