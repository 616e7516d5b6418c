"""VTGDataset and collate on a hand-made dataset folder: targets, the batch contract, and bad folders."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vtg.cli import main
from vtg.data.collate import collate
from vtg.data.dataset import VTGDataset
from vtg.data.labels import clip_targets
from vtg.data.npz import write_npz

LINES = [
    {"qid": 1, "query": "first", "vid": "a", "duration": 20, "relevant_windows": [[4, 10]],
     "relevant_clip_ids": [2, 3, 4], "saliency_scores": [[4, 4, 4], [2, 2, 2], [0, 0, 0]]},
    {"qid": 2, "query": "second", "vid": "b", "duration": 12, "relevant_windows": [[0, 2], [6, 12]]},
]  # fmt: skip


def make_dataset(root: Path, lines=LINES, clips=(10, 6), tokens=(3, 5), levels=2) -> Path:
    """A dataset folder with the given annotation lines and random features."""
    rng = np.random.default_rng(0)
    (root / "video").mkdir(parents=True)
    (root / "text").mkdir()
    for line, n_clips, n_tokens in zip(lines, clips, tokens):
        video = rng.normal(size=(n_clips, levels, 8)).astype(np.float32)
        text = rng.normal(size=(levels, n_tokens, 6)).astype(np.float32)
        write_npz(root / "video" / f"{line['vid']}.npz", features=video)
        write_npz(root / "text" / f"qid{line['qid']}.npz", last_hidden_state=text)
    (root / "val.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (root / "dataset.yaml").write_text(
        "clip_len: 2.0\nvideo_feature_dirs: [video]\ntext_feature_dir: text\nsplits: {val: val.jsonl}\n"
    )
    return root


def test_clip_targets_follow_the_windows():
    foreground, boundary, saliency = clip_targets([(4.0, 10.0), (15.0, 15.5)], [2, 3], [[4, 4, 4], [2, 2, 2]], 10, 2.0)
    # window 1 holds the centres of clips 2, 3, 4; window 2 holds no centre, so its middle clip 7 is marked
    np.testing.assert_array_equal(foreground, [0, 0, 1, 1, 1, 0, 0, 1, 0, 0])
    np.testing.assert_allclose(boundary[2], [0.5, 2.5])  # centre 2.5 clip units, window [2, 5]
    np.testing.assert_allclose(boundary[4], [2.5, 0.5])
    np.testing.assert_allclose(boundary[7], [0.0, 0.25])  # clamped at 0: the centre lies after the start
    np.testing.assert_allclose(saliency[:4], [0, 0, 1.0, 0.5])


def test_overlapping_windows_use_the_shortest():
    _, boundary, _ = clip_targets([(0.0, 20.0), (4.0, 8.0)], [], None, 10, 2.0)
    np.testing.assert_allclose(boundary[2], [0.5, 1.5])
    np.testing.assert_allclose(boundary[0], [0.5, 9.5])


def test_batch_matches_the_contract(tmp_path):
    dataset = VTGDataset(make_dataset(tmp_path), "val")
    assert dataset.dims == {"video_dim": 8, "text_dim": 6, "video_levels": 2, "text_levels": 2}
    batch = collate([dataset[0], dataset[1]])
    assert batch["video"].shape == (2, 10, 2, 8) and batch["video"].dtype == torch.float32
    assert batch["text"].shape == (2, 5, 2, 6)
    assert batch["video_mask"].tolist() == [[True] * 10, [True] * 6 + [False] * 4]
    assert batch["text_mask"].sum(1).tolist() == [3, 5]
    assert batch["foreground"][1].tolist() == [1, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert batch["boundary"].shape == (2, 10, 2) and batch["saliency"].shape == (2, 10)
    assert batch["saliency_valid"].tolist() == [True, False]
    assert torch.equal(batch["windows"][1], torch.tensor([[0.0, 2.0], [6.0, 12.0]]))
    assert batch["meta"][0] == {"qid": 1, "vid": "a", "query": "first", "duration": 20.0, "clip_len": 2.0}
    assert torch.allclose(batch["video"][0].norm(dim=-1), torch.ones(10, 2))


def test_lengths_are_cut_and_features_cached(tmp_path):
    dataset = VTGDataset(make_dataset(tmp_path), "val", max_video_len=4, max_query_len=2)
    item = dataset[0]
    assert item["video"].shape[0] == 4 and item["text"].shape[0] == 2 and item["foreground"].tolist() == [0, 0, 1, 1]
    (tmp_path / "video" / "a.npz").unlink()
    assert dataset[0]["video"].shape[0] == 4  # served from memory


def run_cli(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err.strip()


def test_info_reports_dims(tmp_path, capsys):
    root = make_dataset(tmp_path)
    assert main(["data", "info", "--root", str(root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"]["val"] == {"queries": 2, "max_clips": 10, "labelled": True}
    assert summary["video_levels"] == 2


def test_info_reads_a_test_split_without_windows(tmp_path, capsys):
    root = make_dataset(tmp_path, lines=[{k: v for k, v in line.items() if k != "relevant_windows"} for line in LINES])
    assert main(["data", "info", "--root", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["val"]["labelled"] is False


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda r: (r / "dataset.yaml").unlink(), "dataset.yaml: not found"),
        (lambda r: (r / "dataset.yaml").write_text("clip_len: 2\n"), "yaml: field 'video_feature_dirs': missing"),
        (lambda r: (r / "dataset.yaml").write_text("clip_len: [\n"), "dataset.yaml:2: invalid YAML"),
        (
            lambda r: (r / "dataset.yaml").write_text(
                "clip_len: 0\nvideo_feature_dirs: [video]\ntext_feature_dir: text\nsplits: {val: val.jsonl}\n"
            ),
            "field 'clip_len': expected a positive number",
        ),
        (
            lambda r: (r / "dataset.yaml").write_text(
                "clip_len: 2\nvideo_feature_dirs: [nope]\ntext_feature_dir: text\nsplits: {val: val.jsonl}\n"
            ),
            "field 'video_feature_dirs': folder",
        ),
        (lambda r: (r / "video" / "b.npz").unlink(), "b.npz: video feature file not found (needed by"),
        (lambda r: (r / "val.jsonl").write_text('{"qid": 1}\n'), "val.jsonl:1: field 'query': missing"),
        (
            lambda r: write_npz(r / "text" / "qid2.npz", last_hidden_state=np.ones((2, 4, 7), np.float32)),
            "qid2.npz: text features have 2 levels of width 7, but those of the first query",
        ),
    ],
)
def test_bad_dataset_folder_is_one_line_and_exit_2(tmp_path, capsys, breakage, expected):
    root = make_dataset(tmp_path)
    breakage(root)
    code, err = run_cli(capsys, "data", "info", "--root", str(root))
    last = err.splitlines()[-1]  # progress bars may come before the error line
    assert code == 2 and last.startswith("vtg: error: ") and expected in last and "Traceback" not in err


def test_unknown_split(tmp_path, capsys):
    code, err = run_cli(capsys, "data", "info", "--root", str(make_dataset(tmp_path)), "--split", "train")
    assert code == 2 and "field 'splits': no split 'train' (has: val)" in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    code, err = run_cli(capsys, "data", "info", "--root", str(tmp_path / "none"), "--debug")
    assert code == 2 and "Traceback" in err
    assert err.endswith(f"vtg: error: {tmp_path / 'none'}: dataset folder not found")


def test_info_refuses_two_splits_whose_queries_share_an_id(tmp_path, capsys):
    root = make_dataset(tmp_path)
    (root / "test.jsonl").write_text(json.dumps({**LINES[0], "query": "another sentence"}) + "\n")
    config = (root / "dataset.yaml").read_text().replace("{val: val.jsonl}", "{val: val.jsonl, test: test.jsonl}")
    (root / "dataset.yaml").write_text(config)
    code, err = run_cli(capsys, "data", "info", "--root", str(root))
    assert code == 2 and "test.jsonl:1: field 'qid': 1 is also 'first' at" in err and "text/qid1.npz" in err


def test_info_refuses_two_splits_whose_ids_differ_only_in_type(tmp_path, capsys):
    """1 and "1" read the same qid1.npz."""
    root = make_dataset(tmp_path)
    (root / "test.jsonl").write_text(json.dumps({**LINES[0], "qid": "1", "query": "another sentence"}) + "\n")
    config = (root / "dataset.yaml").read_text().replace("{val: val.jsonl}", "{val: val.jsonl, test: test.jsonl}")
    (root / "dataset.yaml").write_text(config)
    code, err = run_cli(capsys, "data", "info", "--root", str(root))
    assert code == 2 and "test.jsonl:1: field 'qid': '1' is also 'first' at" in err


def test_info_refuses_splits_of_other_dims(tmp_path, capsys):
    """vtg train refuses such a folder; vtg data info reported the last split's dims."""
    root = make_dataset(tmp_path)
    write_npz(root / "video" / "c.npz", features=np.ones((10, 2, 5), np.float32))  # 5 dims, not 8
    write_npz(root / "text" / "qid3.npz", last_hidden_state=np.ones((2, 3, 6), np.float32))
    (root / "test.jsonl").write_text(json.dumps({**LINES[0], "qid": 3, "vid": "c"}) + "\n")
    config = (root / "dataset.yaml").read_text().replace("{val: val.jsonl}", "{val: val.jsonl, test: test.jsonl}")
    (root / "dataset.yaml").write_text(config)
    code, err = run_cli(capsys, "data", "info", "--root", str(root))
    assert code == 2 and "split 'test' has dims (video_dim=5" in err and "split 'val' has (video_dim=8" in err


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_every_query_of_a_video_is_checked_against_its_clips(tmp_path, capsys, order):
    """A second query of a cached video was not checked: whether the split was refused hung on the order."""
    wrong = {"qid": 5, "query": "third", "vid": "a", "duration": 4, "relevant_windows": [[0, 2]]}  # 2 clips, not 10
    lines = [[LINES[0], wrong][i] for i in order]
    root = make_dataset(tmp_path, lines=lines, clips=(10, 10), tokens=(3, 3))
    code, err = run_cli(capsys, "data", "info", "--root", str(root))
    assert code == 2 and "a.npz: 10 clips" in err and "field 'duration' (4 s)" in err
