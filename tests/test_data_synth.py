"""``vtg data synth``: same seed same bytes, loadable for K = 1 and K > 1, realistic, with a planted signal."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vtg.cli import main
from vtg.data import synth as synth_module
from vtg.data.annotations import read_annotations
from vtg.data.collate import collate
from vtg.data.dataset import VTGDataset
from vtg.data.synth import CONCEPT_WORDS


def synth(out: Path, *extra: str) -> int:
    return main(["data", "synth", "--out", str(out), "--preset", "tiny", *extra])


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    assert synth(out, "--seed", "3") == 0
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(tiny, tmp_path):
    assert synth(tmp_path / "again", "--seed", "3") == 0
    assert tree(tmp_path / "again") == tree(tiny)
    assert synth(tmp_path / "other", "--seed", "4") == 0
    other = tree(tmp_path / "other")
    assert other.keys() == tree(tiny).keys()
    assert other["train.jsonl"] != tree(tiny)["train.jsonl"]
    assert other["video_features/train_00000.npz"] != tree(tiny)["video_features/train_00000.npz"]


def test_summary_and_refusing_a_full_folder(tiny, tmp_path, capsys):
    capsys.readouterr()
    assert synth(tiny, "--seed", "3") == 2
    assert "folder is not empty (use --force" in capsys.readouterr().err
    assert synth(tmp_path / "j", "--json", "--train", "5", "--val", "2") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["queries"] == {"train": 5, "val": 2} and summary["video_levels"] == 2
    assert synth(tmp_path / "p", "--preset", "huge") == 2
    assert "option --preset: unknown preset 'huge'" in capsys.readouterr().err


def test_pretrain_split_leaves_train_and_val_as_they_are(tiny, tmp_path, capsys):
    assert synth(tmp_path / "pre", "--seed", "3", "--pretrain", "10", "--json") == 0
    assert json.loads(capsys.readouterr().out)["queries"] == {"train": 24, "val": 8, "pretrain": 10}
    with_pretrain, without = tree(tmp_path / "pre"), tree(tiny)
    assert {name: data for name, data in with_pretrain.items() if name in without and name != "dataset.yaml"} == {
        name: data for name, data in without.items() if name != "dataset.yaml"
    }
    pretrain = VTGDataset(tmp_path / "pre", "pretrain")
    assert len(pretrain) == 10 and pretrain.dims == VTGDataset(tiny, "train").dims
    train_vids = {a.vid for a in read_annotations(tiny / "train.jsonl")}
    assert not train_vids & {a.vid for a in pretrain.annotations}  # other videos of the same world
    assert synth(tmp_path / "bad", "--pretrain", "-1") == 2
    assert "option --pretrain: expected 0 or more" in capsys.readouterr().err


@pytest.mark.parametrize("levels", [1, 3])
def test_dataset_loads_any_number_of_levels(tmp_path, levels):
    assert synth(tmp_path, "--levels", str(levels), "--train", "6", "--val", "2") == 0
    with np.load(tmp_path / "video_features" / "train_00000.npz") as archive:
        assert archive["features"].ndim == (2 if levels == 1 else 3)
    dataset = VTGDataset(tmp_path, "train")
    assert dataset.dims == {"video_dim": 16, "text_dim": 16, "video_levels": levels, "text_levels": levels}
    batch = collate([dataset[i] for i in range(len(dataset))])
    assert batch["video"].shape[2] == levels and batch["text"].shape[2] == levels
    assert batch["saliency_valid"].all() and (batch["foreground"].sum(1) > 0).all()


def test_statistics_are_realistic(tiny):
    annotations = read_annotations(tiny / "train.jsonl", clip_len=2.0) + read_annotations(tiny / "val.jsonl")
    assert len(annotations) == 32
    lengths = [ed - st for a in annotations for st, ed in a.windows]
    assert min(lengths) < 10 and max(lengths) > 30 and any(10 <= x <= 30 for x in lengths)
    assert max(len(a.windows) for a in annotations) > 1
    for a in annotations:
        assert a.duration <= 150 and a.duration % 2 == 0
        inside = sorted(c for st, ed in a.windows for c in range(int(st // 2), int(ed // 2)))
        assert a.clip_ids == inside
        assert all(len(s) == 3 and all(0 <= v <= 4 for v in s) for s in a.saliency_scores)
        assert 8 <= len(a.query.split()) <= 30
        assert sum(word in CONCEPT_WORDS for word in a.query.split()) >= 1


def window_and_background(dataset: VTGDataset, level: int):
    """Per query: its concept word, the mean in-window clip and the mean background clip at ``level``."""
    rows = []
    for i, annotation in enumerate(dataset.annotations):
        item = dataset[i]
        video, inside = item["video"][:, level], item["foreground"] > 0  # (Lv, D), (Lv,)
        word = next(w for w in annotation.query.split() if w in CONCEPT_WORDS)
        rows.append((word, video[inside].mean(0), video[~inside].mean(0)))
    return rows


def separation(rows) -> float:
    """Mean cosine of in-window clips across queries of the same concept, minus that to their background."""
    cos = torch.nn.functional.cosine_similarity
    same, background = [], []
    for i, (word_i, in_i, _) in enumerate(rows):
        for word_j, in_j, out_j in rows[i + 1 :]:
            if word_i == word_j:
                same.append(cos(in_i, in_j, dim=0))
                background.append(cos(in_i, out_j, dim=0))
    return float(torch.stack(same).mean() - torch.stack(background).mean())


def test_planted_concept_is_clearer_at_deeper_levels(tiny):
    dataset = VTGDataset(tiny, "train")
    shallow, deep = separation(window_and_background(dataset, 0)), separation(window_and_background(dataset, -1))
    assert deep > 0.3 and deep > 2 * shallow


def test_options_from_a_config_file_and_a_missing_one(tmp_path, capsys):
    config = tmp_path / "synth.yaml"
    config.write_text(f"preset: tiny\nseed: 3\nout: {tmp_path / 'from_config'}\ntrain: 4\nval: 2\n")
    assert main(["data", "synth", "--config", str(config)]) == 0
    assert len((tmp_path / "from_config" / "train.jsonl").read_text().splitlines()) == 4
    capsys.readouterr()
    assert main(["data", "synth", "--preset", "tiny"]) == 2
    assert "vtg: error: option --out: required by 'vtg data synth'" in capsys.readouterr().err


def test_force_replaces_an_earlier_dataset_whole_or_leaves_it_whole(tmp_path, monkeypatch):
    out = tmp_path / "d"
    assert synth(out, "--train", "5", "--val", "2") == 0
    before = tree(out)
    assert synth(tmp_path / "fresh", "--train", "3", "--val", "2") == 0
    fresh = tree(tmp_path / "fresh")

    def interrupt(*args, **kwargs):  # Ctrl-C
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # while the new dataset is being written: the old one stays
        patch.setattr(synth_module, "_write_dataset", interrupt)
        assert synth(out, "--train", "3", "--val", "2", "--force") != 0  # vtg: interrupted
    assert tree(out) == before
    with monkeypatch.context() as patch:  # while the old run's extra files are removed: the new one is in place
        patch.setattr(Path, "unlink", interrupt)
        assert synth(out, "--train", "3", "--val", "2", "--force") != 0
    assert {name: data for name, data in tree(out).items() if name in fresh} == fresh
    assert len(VTGDataset(out, "train")) == 3 and len(VTGDataset(out, "val")) == 2
    assert synth(out, "--train", "3", "--val", "2", "--force") == 0
    assert tree(out) == fresh  # the earlier run's extra feature files are gone
