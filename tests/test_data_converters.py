"""``vtg data convert``: Charades-STA, TACoS and YouTube Highlights to QVHighlights jsonl, and bad inputs."""

import json
from pathlib import Path

import pytest
from real_data import REAL_DATA

from vtg.cli import main
from vtg.data.annotations import read_annotations

CHARADES = REAL_DATA / "charades_sta" / "charades_sta_test.txt"
TACOS = REAL_DATA / "tacos" / "test.json"


def convert(capsys, *argv) -> tuple[int, str, str]:
    code = main(["data", "convert", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


@pytest.mark.skipif(not CHARADES.is_file(), reason="shared Charades-STA annotations absent")
def test_charades_sta_test_split(tmp_path, capsys):
    out = tmp_path / "charades.jsonl"
    code, stdout, _ = convert(capsys, "--dataset", "charades", "--input", str(CHARADES), "--out", str(out), "--json")
    assert code == 0 and json.loads(stdout)["queries"] == 3720
    annotations = read_annotations(out, clip_len=1.0)
    assert len(annotations) == 3720
    first = annotations[0]
    assert (first.vid, first.query, first.windows) == ("3MSZA", "person turn a light on.", [(24.3, 30.4)])
    assert all(0 <= st < ed <= a.duration for a in annotations for st, ed in a.windows)


@pytest.mark.skipif(not TACOS.is_file(), reason="shared TACoS annotations absent")
def test_tacos_test_split(tmp_path, capsys):
    out = tmp_path / "tacos.jsonl"
    code, stdout, _ = convert(capsys, "--dataset", "tacos", "--input", str(TACOS), "--out", str(out))
    assert code == 0 and "4001 queries on 25 videos" in stdout
    annotations = read_annotations(out)
    assert len(annotations) == 4001
    first = annotations[0]
    assert first.vid == "s30-d52" and first.query == "She took out kiwi"
    assert first.duration == pytest.approx(7346 / 29.4)
    assert first.windows[0] == pytest.approx((141 / 29.4, 354 / 29.4))


def write_charades(tmp_path: Path, lines: str, durations: dict) -> Path:
    (tmp_path / "charades.json").write_text(json.dumps({k: {"duration": v} for k, v in durations.items()}))
    path = tmp_path / "sta.txt"
    path.write_text(lines)
    return path


def test_charades_clamps_overrunning_ends(tmp_path, capsys):
    path = write_charades(tmp_path, "AAA 1.0 9.5##a person sits.\nAAA 2 3##a person stands.\n", {"AAA": 8.0})
    code, stdout, _ = convert(capsys, "--dataset", "charades", "--input", str(path), "--out", str(tmp_path / "o.jsonl"))
    assert code == 0 and "1 windows ending after their video were cut" in stdout
    assert [a.windows for a in read_annotations(tmp_path / "o.jsonl")] == [[(1.0, 8.0)], [(2.0, 3.0)]]


def test_each_split_gets_its_own_query_ids(tmp_path, capsys):
    path = write_charades(tmp_path, "AAA 1 2##a person sits.\nAAA 2 3##a person stands.\n", {"AAA": 8.0})
    out = tmp_path / "test.jsonl"
    code, stdout, _ = convert(
        capsys, "--dataset", "charades", "--input", str(path), "--out", str(out), "--first-qid", "2"
    )
    assert code == 0 and "qid 2-3" in stdout
    assert [a.qid for a in read_annotations(out)] == [2, 3]
    code, _, err = convert(
        capsys, "--dataset", "charades", "--input", str(path), "--out", str(out), "--first-qid", "-1"
    )
    assert code == 2 and "option --first-qid: expected an integer from 0 to" in err


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("AAA 1.0 2.0 a person sits.\n", "sta.txt:1: expected 'VID start end##sentence'"),
        ("AAA 1.0 x##a person sits.\n", "sta.txt:1: start and end must be numbers"),
        ("AAA 1.0 inf##a person sits.\n", "sta.txt:1: start and end must be numbers"),
        ("AAA nan 2##a person sits.\n", "sta.txt:1: start and end must be numbers"),
        ("AAA 1_0 2##a person sits.\n", "sta.txt:1: start and end must be numbers"),
        ("AAA 1 1e999##a person sits.\n", "sta.txt:1: start and end must be finite"),
        ("AAA 1 2##ok\nBBB 1 2##a person sits.\n", "sta.txt:2: video 'BBB' has no duration"),
        ("AAA 9 10##a person sits.\n", "sta.txt:1: window [9.0, 10.0] is outside the video"),
    ],
)
def test_charades_bad_lines(tmp_path, capsys, lines, expected):
    path = write_charades(tmp_path, lines, {"AAA": 8.0})
    code, _, err = convert(capsys, "--dataset", "charades", "--input", str(path), "--out", str(tmp_path / "o.jsonl"))
    assert code == 2 and expected in err and "Traceback" not in err


def test_charades_without_durations(tmp_path, capsys):
    path = tmp_path / "sta.txt"
    path.write_text("AAA 1 2##x\n")
    code, _, err = convert(capsys, "--dataset", "charades", "--input", str(path), "--out", str(tmp_path / "o.jsonl"))
    assert code == 2 and "charades.json: Charades durations file not found (give it with --durations)" in err


def test_tacos_bad_entries(tmp_path, capsys):
    video = {"timestamps": [[0, 30]], "sentences": ["cut"], "fps": 30.0, "num_frames": 300}
    for broken, expected in [
        ({**video, "fps": "x"}, "field 'v.avi.fps': expected a number"),
        ({k: v for k, v in video.items() if k != "sentences"}, "field 'v.avi.sentences': missing"),
        ({**video, "timestamps": [[400, 500]]}, "field 'v.avi.timestamps[0]': frames [400.0, 500.0] outside"),
    ]:
        (tmp_path / "t.json").write_text(json.dumps({"v.avi": broken}))
        code, _, err = convert(capsys, "--dataset", "tacos", "--input", str(tmp_path / "t.json"), "--out", "o.jsonl")
        assert code == 2 and expected in err


YOUTUBE = {
    "dogvid1": {"domain": "dog", "match": [-1, 1, 1, 0, -1, 1], "fps": 30.0, "frames": 360},
    "dogvid2": {"domain": "dog", "match": [-1, -1, 0], "fps": 30.0, "frames": 180},
    "skivid1": {"domain": "skiing", "match": [1, 1, -1], "duration": 5.0},
}


@pytest.mark.parametrize("layout", ["object", "lines"])
def test_youtube_highlights(tmp_path, capsys, layout):
    source = tmp_path / "youtube_anno.json"
    if layout == "object":
        source.write_text(json.dumps(YOUTUBE))
    else:
        source.write_text("".join(json.dumps({"vid": k, **v}) + "\n" for k, v in YOUTUBE.items()))
    out = tmp_path / "youtube.jsonl"
    code, stdout, _ = convert(capsys, "--dataset", "youtube", "--input", str(source), "--out", str(out))
    assert code == 0 and "2 queries on 2 videos" in stdout  # dogvid2 has no highlight clip
    assert "1 videos without a highlight clip were left out" in stdout
    dog, ski = read_annotations(out, clip_len=2.0)
    assert (dog.vid, dog.query, dog.duration, dog.extra["domain"]) == ("dogvid1", "dog", 12.0, "dog")
    assert dog.extra["num_clips"] == 6 and ski.extra["num_clips"] == 3  # the labelled clips
    assert dog.clip_ids == [1, 2, 5] and dog.saliency_scores == [[4, 4, 4]] * 3
    assert dog.windows == [(2.0, 6.0), (10.0, 12.0)]
    assert ski.windows == [(0.0, 4.0)]


def test_youtube_bad_entries(tmp_path, capsys):
    for broken, expected in [
        ({"v": {"match": [1]}}, "field 'v': field 'domain': missing"),
        ({"v": {"domain": "dog", "match": [1, None], "duration": 4}}, "field 'match[1]': expected a number"),
        ({"v": {"domain": "dog", "match": [1], "frames": 10}}, "field 'fps': missing"),
        (
            {"v": {"domain": "dog", "match": [-1, 1], "duration": 2.0}},
            "field 'match': 2 clips of 2.0 s do not fit in 2 s",
        ),
        ({"v": {"domain": "dog", "match": [-1], "duration": 2.0}}, "no video with a highlight clip"),
    ]:
        (tmp_path / "y.json").write_text(json.dumps(broken))
        code, _, err = convert(capsys, "--dataset", "youtube", "--input", str(tmp_path / "y.json"), "--out", "o.jsonl")
        assert code == 2 and expected in err, err


def test_unknown_dataset_and_missing_input(tmp_path, capsys):
    code, _, err = convert(capsys, "--dataset", "activitynet", "--input", "x", "--out", "o.jsonl")
    assert code == 2 and "option --dataset: unknown dataset 'activitynet' (choose from charades, tacos, youtube)" in err
    code, _, err = convert(capsys, "--dataset", "tacos", "--input", str(tmp_path / "none.json"), "--out", "o.jsonl")
    assert code == 2 and "none.json: TACoS annotation file not found" in err


def test_bad_clip_len(capsys):
    for value in ("-1", "nan", "inf"):
        code, _, err = convert(capsys, "--dataset", "youtube", "--input", "x", "--out", "o.jsonl", "--clip-len", value)
        assert code == 2 and "option --clip-len: expected a positive number" in err


def test_first_qid_beyond_what_readers_take_and_output_over_the_input_are_refused(tmp_path, capsys):
    source = tmp_path / "y.json"
    source.write_text(json.dumps(YOUTUBE))
    args = ["--dataset", "youtube", "--input", str(source)]
    code, _, err = convert(capsys, *args, "--out", str(tmp_path / "o.jsonl"), "--first-qid", str(2**63 - 1))
    assert code == 2 and "option --first-qid: 9223372036854775807 + 2 queries pass the largest qid" in err
    code, _, err = convert(capsys, *args, "--out", str(tmp_path / "o.jsonl"), "--first-qid", str(2**63))
    assert code == 2 and "option --first-qid: expected an integer from 0 to" in err
    assert not (tmp_path / "o.jsonl").exists()
    code, _, err = convert(capsys, *args, "--out", str(source))
    assert code == 2 and "is the file given to --input" in err and json.loads(source.read_text()) == YOUTUBE
    # an --out that exists beside a missing input: the input's own error, not a traceback
    code, _, err = convert(capsys, "--dataset", "youtube", "--input", str(tmp_path / "no.json"), "--out", str(source))
    assert code == 2 and "no.json: YouTube Highlights annotation file not found" in err
    # Charades' durations file read by default beside the input is an input too
    path = write_charades(tmp_path, "AAA 1 2##a person sits.\n", {"AAA": 8.0})
    code, _, err = convert(
        capsys, "--dataset", "charades", "--input", str(path), "--out", str(path.with_name("charades.json"))
    )
    assert code == 2 and "by default charades.json beside --input" in err
