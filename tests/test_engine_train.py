"""``vtg train``: outputs of a run, resuming identically, and one-line errors for the user's mistakes."""

from __future__ import annotations

import json
import shutil
import signal

import pytest
import torch
import yaml
from engine_support import train_args

from vtg.checkpoint import METADATA_KEY, model_state_dict
from vtg.cli import main
from vtg.engine.module import VTGModule
from vtg.models import full_model_config


def test_run_writes_checkpoints_metrics_and_config(tiny_run):
    assert {"last.ckpt", "best.ckpt", "metrics.json", "config.yaml"} <= {p.name for p in tiny_run.iterdir()}
    assert not [p for p in tiny_run.iterdir() if p.name.endswith(".tmp")]

    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert [entry["epoch"] for entry in metrics["epochs"]] == [0, 1]
    final = metrics["final"]
    for name in ("MR-full-R1@0.5", "MR-full-mAP", "HL-min-VeryGood-Hit1", "train/total", "train/foreground"):
        assert 0.0 <= final[name] < float("inf"), name
    best = max(metrics["epochs"], key=lambda entry: entry["MR-full-mAP"])
    assert metrics["best"]["epoch"] == best["epoch"]

    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert config["model"] == {"name": "tiny", "hidden": 8, "dropout": 0.2}
    assert config["train"]["epochs"] == 2 and config["train"]["schedule"] == "constant"

    last = torch.load(tiny_run / "last.ckpt", weights_only=True)
    meta = last[METADATA_KEY]
    assert meta["model_name"] == "tiny" and meta["dims"]["video_dim"] == 16 and meta["dims"]["video_levels"] == 2
    assert meta["metrics"]["MR-full-mAP"] == final["MR-full-mAP"]
    assert {"torch", "lightning", "numpy", "vtg"} <= set(meta["versions"])
    assert last["epoch"] == 1 and "optimizer_states" in last and "loops" in last
    best_ckpt = torch.load(tiny_run / "best.ckpt", weights_only=True)
    assert best_ckpt[METADATA_KEY]["metrics"]["MR-full-mAP"] == metrics["best"]["MR-full-mAP"]


def test_resumed_run_equals_uninterrupted_run(tiny_run, tiny_config, tiny_data, tmp_path, capsys):
    out = tmp_path / "resumed"
    assert main(train_args(tiny_config, tiny_data, out, "--epochs", "1")) == 0
    capsys.readouterr()
    assert main(train_args(tiny_config, tiny_data, out, "--epochs", "2", "--resume", "auto", "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 2 and summary["checkpoints"]["last"] == str(out / "last.ckpt")

    resumed = model_state_dict(torch.load(out / "last.ckpt", weights_only=True))
    straight = model_state_dict(torch.load(tiny_run / "last.ckpt", weights_only=True))
    assert resumed.keys() == straight.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=1e-5, atol=1e-6, msg=name)
    # the history of the first epoch travelled in the checkpoint
    history = json.loads((out / "metrics.json").read_text())["epochs"]
    reference = json.loads((tiny_run / "metrics.json").read_text())["epochs"]
    assert [entry["epoch"] for entry in history] == [0, 1]
    assert history[1]["MR-full-mAP"] == pytest.approx(reference[1]["MR-full-mAP"], abs=1e-6)


def test_same_seed_same_weights_other_seed_other_weights(tiny_model, tiny_config, tiny_data, tmp_path):
    runs = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        args = train_args(tiny_config, tiny_data, tmp_path / name, "--epochs", "1", "--seed", seed)
        assert main([*args, "--limit-train-batches", "2", "--limit-val-batches", "1"]) == 0
        runs[name] = model_state_dict(torch.load(tmp_path / name / "last.ckpt", weights_only=True))
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def test_resume_on_data_with_other_dims_is_one_line(tiny_run, tiny_config, tmp_path, capsys):
    other = tmp_path / "wide"
    assert main(["data", "synth", "--preset", "tiny", "--out", str(other), "--levels", "3", "--train", "4"]) == 0
    capsys.readouterr()
    resume = str(tiny_run / "last.ckpt")
    code = main(train_args(tiny_config, other, tmp_path / "out", "--epochs", "3", "--resume", resume))
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "video_levels=3" in err and "video_levels=2" in err and str(tiny_run / "last.ckpt") in err


def test_missing_data_folder_is_one_line(tiny_model, tiny_config, tmp_path, capsys):
    code = main(train_args(tiny_config, tmp_path / "nowhere", tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(tmp_path / "nowhere") in err and "not found" in err


def test_missing_split_is_one_line(tiny_model, tiny_config, tiny_data, tmp_path, capsys):
    code = main([*train_args(tiny_config, tiny_data, tmp_path / "out"), "--val-split", "test"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "dataset.yaml" in err and "'test'" in err


@pytest.mark.parametrize(
    ("train_section", "field"),
    [("  lr: fast\n", "train.lr"), ("  epoch: 3\n", "train.epoch"), ("  schedule: linear\n", "train.schedule")],
)
def test_bad_train_field_names_file_and_field(tiny_model, tiny_data, tmp_path, capsys, train_section, field):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  name: tiny\ntrain:\n" + train_section)
    code = main(train_args(config, tiny_data, tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(config) in err and f"'{field}'" in err


def test_unknown_val_loss_monitor_names_the_field(tiny_model, tiny_data, tmp_path, capsys):
    """A val/<term> is the model's and known after its first validation; Lightning's checkpoint callback
    ended such a typo in a MisconfigurationException."""
    config = tmp_path / "monitor.yaml"
    config.write_text("model:\n  name: tiny\ntrain:\n  batch_size: 8\n  monitor: val/totl\n  monitor_mode: min\n")
    code = main(train_args(config, tiny_data, tmp_path / "out", "--epochs", "1", "--limit-train-batches", "1"))
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "field 'train.monitor': 'val/totl' is not a val loss term" in last and "val/total" in last
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # a failed start leaves nothing behind


def test_a_failed_start_keeps_the_config_of_the_checkpoints_beside_it(
    tiny_model, tiny_config, tiny_data, tmp_path, capsys
):
    out = tmp_path / "out"
    assert main(train_args(tiny_config, tiny_data, out, "--epochs", "1", "--limit-train-batches", "1")) == 0
    kept = (out / "config.yaml").read_text()
    config = tmp_path / "monitor.yaml"
    config.write_text("model:\n  name: tiny\ntrain:\n  batch_size: 8\n  monitor: val/totl\n  monitor_mode: min\n")
    # a new run into the folder of a finished one fails at its first validation, before it saves a checkpoint
    capsys.readouterr()
    assert main(train_args(config, tiny_data, out, "--epochs", "1", "--limit-train-batches", "1")) == 2
    assert (out / "config.yaml").read_text() == kept


def test_a_batch_fraction_that_gives_no_batch_is_one_line(tiny_model, tiny_config, tiny_data, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(train_args(tiny_config, tiny_data, out, "--epochs", "1", "--limit-val-batches", "0.01"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("vtg: error: option --limit-val-batches (train.limit_val_batches)")
    assert not (out / "config.yaml").exists()


def test_unknown_monitor_names_the_field(tiny_model, tiny_data, tmp_path, capsys):
    config = tmp_path / "monitor.yaml"
    config.write_text("model:\n  name: tiny\ntrain:\n  batch_size: 8\n  monitor: MR-full-mAP@0.6\n")
    args = train_args(config, tiny_data, tmp_path / "out", "--epochs", "1", "--limit-train-batches", "1")
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert "field 'train.monitor'" in err.strip().splitlines()[-1] and "MR-full-mAP@0.5" in err


def test_resume_of_a_missing_checkpoint_is_one_line(tiny_model, tiny_config, tiny_data, tmp_path, capsys):
    code = main(train_args(tiny_config, tiny_data, tmp_path / "out", "--resume", str(tmp_path / "none.ckpt")))
    err = capsys.readouterr().err
    assert code == 2 and "none.ckpt" in err and len(err.strip().splitlines()) == 1


def test_resume_with_another_model_config_is_refused(tiny_run, tiny_data, tmp_path, capsys):
    config = tmp_path / "wider.yaml"
    config.write_text("model:\n  name: tiny\n  hidden: 16\n  dropout: 0.2\n")
    shutil.copy(tiny_run / "last.ckpt", tmp_path / "last.ckpt")
    code = main(train_args(config, tiny_data, tmp_path, "--epochs", "3", "--resume", "auto"))
    err = capsys.readouterr().err
    assert code == 2 and "field 'model.hidden'" in err and len(err.strip().splitlines()) == 1


def test_resume_with_another_learning_rate_is_refused(tiny_run, tiny_config, tiny_data, tmp_path, capsys):
    """Lightning restores the optimizer's and schedule's learning rates from the checkpoint: a new --lr was
    recorded in config.yaml and not used."""
    shutil.copy(tiny_run / "last.ckpt", tmp_path / "last.ckpt")
    code = main(train_args(tiny_config, tiny_data, tmp_path, "--epochs", "3", "--lr", "0.5", "--resume", "auto"))
    err = capsys.readouterr().err
    assert code == 2 and "field 'train.lr': 0.5 differs from 0.01" in err and len(err.strip().splitlines()) == 1
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"] == 1  # left as it was


def test_resume_on_other_splits_is_refused(tiny_run, tiny_config, tiny_data, tmp_path, capsys):
    """The checkpoint keeps the splits its run read; swapping them on resume went on silently."""
    shutil.copy(tiny_run / "last.ckpt", tmp_path / "last.ckpt")
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["vtg"]["splits"] == {"train": "train", "val": "val"}
    args = train_args(tiny_config, tiny_data, tmp_path, "--epochs", "3", "--resume", "auto", "--val-split", "train")
    err = capsys.readouterr().err if main(args) == 2 else "no refusal"
    assert "option --val-split: 'train' differs from 'val' in checkpoint" in err and len(err.strip().splitlines()) == 1


def test_resume_into_another_folder_needs_the_runs_best_checkpoint(tiny_run, tiny_config, tiny_data, tmp_path, capsys):
    """best.ckpt's score comes with the checkpoint, its file does not: a bare resume elsewhere is refused; a copy
    of the whole folder resumes there with the best score (Lightning dropped it: the next epoch became best.ckpt)."""
    args = ("--epochs", "3", "--resume")
    code = main(train_args(tiny_config, tiny_data, tmp_path / "out", *args, str(tiny_run / "last.ckpt")))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "copy that folder, best.ckpt included" in err[0]
    assert not (tmp_path / "out").exists()
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    best_before = torch.load(copy / "best.ckpt", weights_only=True)
    assert main(train_args(tiny_config, tiny_data, copy, *args, "auto", "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    best_after = torch.load(copy / "best.ckpt", weights_only=True)
    # best.ckpt holds the score metrics.json names as the best, never below the one it had
    monitored = best_after["vtg"]["metrics"]["MR-full-mAP"]
    assert monitored == summary["best"]["MR-full-mAP"] >= best_before["vtg"]["metrics"]["MR-full-mAP"]
    assert summary["checkpoints"]["best"] == str(copy / "best.ckpt")


def test_resume_from_a_model_only_checkpoint_is_refused(tiny_run, tiny_config, tiny_data, tmp_path, capsys):
    """A student.ckpt or an imported teacher holds weights and metadata but no optimizer or loop state."""
    saved = torch.load(tiny_run / "last.ckpt", weights_only=True)
    model_only = tmp_path / "model.ckpt"
    torch.save({"state_dict": saved["state_dict"], METADATA_KEY: saved[METADATA_KEY]}, model_only)
    code = main(train_args(tiny_config, tiny_data, tmp_path / "out", "--epochs", "3", "--resume", str(model_only)))
    err = capsys.readouterr().err
    assert code == 2 and "model.ckpt holds a model, not a training run's state" in err
    assert len(err.strip().splitlines()) == 1


def test_a_model_section_compares_with_its_defaults_written_out():
    """Resuming with a config that spells out a default (or leaves one out) is the same model."""
    default = full_model_config("spikingvtg", {})
    assert full_model_config("spikingvtg", {"tc": default["tc"]}) == default
    assert full_model_config("spikingvtg", {"tc": default["tc"] + 1}) != default


def test_ctrl_c_in_training_ends_as_interrupted(tiny_model, tiny_config, tiny_data, tmp_path, monkeypatch, capsys):
    """Lightning turns Ctrl-C into exit status 1; the command line promises 130 and "interrupted"."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(VTGModule, "training_step", interrupted)
    previous = signal.getsignal(signal.SIGINT)
    assert main(train_args(tiny_config, tiny_data, tmp_path / "out", "--epochs", "1")) == 130
    assert capsys.readouterr().err.strip().endswith("vtg: interrupted")
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # Lightning left Ctrl-C ignored
    signal.signal(signal.SIGINT, previous)
