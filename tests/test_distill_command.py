"""``vtg distill`` end to end on the tiny synthetic set: recipe and student checkpoints, the comparison,
resuming, the student's start from the label-only run's weights, and one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml

from spiking.distillation.recipe import DistillConfig, DistillModule, build_distill_module
from vtg.checkpoint import METADATA_KEY, atomic_save, checkpoint_metadata, load_model, model_state_dict
from vtg.cli import main
from vtg.engine.module import VTGModule
from vtg.engine.train_config import TrainConfig
from vtg.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)

DIMS = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}  # the tiny preset's
STUDENT = {
    "name": "spikingvtg",
    "variant": "1bit_nf",
    "hidden_dim": 8,
    "num_layers": 2,
    "num_heads": 2,
    "ffn_dim": 8,
    "tc": 3,
    "solver_iters": 4,
    "f_layers": 2,
    "d_layers": 2,
}
TEACHER = {"hidden_dim": 12, "num_layers": 3, "num_heads": 3, "ffn_dim": 16}


def write_teacher(path: Path, name: str, config: dict) -> Path:
    """A teacher checkpoint in the engine's format (untrained: CLRM needs only its representations)."""
    torch.manual_seed(1)
    model = build_model(name, config, DIMS)
    state = {f"model.{key}": value for key, value in model.state_dict().items()}
    metadata = checkpoint_metadata(name, config, DIMS, TrainConfig(batch_size=4).to_dict(), {})
    atomic_save({"state_dict": state, METADATA_KEY: metadata}, path)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distill")
    data = root / "tiny"
    assert main(["data", "synth", "--preset", "tiny", "--out", str(data), "--seed", "0"]) == 0
    config = root / "distill.yaml"
    section = {"clrm_epochs": 1, "lambda_l2": 0.1, "layer_map": {0: 1, 1: 2}}
    train = {"epochs": 2, "batch_size": 4, "lr": 0.01, "schedule": "constant"}
    config.write_text(yaml.safe_dump({"model": STUDENT, "train": train, "distill": section}))
    return {"root": root, "data": data, "config": config, "teacher": write_teacher(root / "t.ckpt", "univtg", TEACHER)}


def distill_args(setup: dict, out: Path, *extra: str) -> list[str]:
    return [
        "distill",
        *("--teacher", str(setup["teacher"]), "--config", str(setup["config"]), "--data", str(setup["data"])),
        *("--out", str(out), "--accelerator", "cpu", "--limit-train-batches", "2", "--limit-val-batches", "1"),
        *extra,
    ]


@pytest.fixture(scope="module")
def compared(setup) -> tuple[Path, dict]:
    """A distillation run with --compare (2 epochs: one CLRM epoch, one task epoch) and its JSON summary."""
    out = setup["root"] / "run"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(distill_args(setup, out, "--compare", "--json")) == 0
    return out, json.loads(stdout.getvalue())


def test_run_writes_recipe_student_and_comparison(compared):
    out, summary = compared
    assert {"last.ckpt", "best.ckpt", "student.ckpt", "metrics.json", "config.yaml"} <= {p.name for p in out.iterdir()}
    assert summary["epochs"] == 2 and summary["layer_map"] == {"0": 1, "1": 2}
    entries = json.loads((out / "metrics.json").read_text())["epochs"]
    assert all(entry["train/clrm"] > 0 and entry["val/clrm_att"] > 0 for entry in entries)
    # epoch 0 is the CLRM stage (total = CLRM), epoch 1 task training (total = task)
    assert entries[0]["train/total"] == pytest.approx(entries[0]["train/clrm"], rel=1e-5)
    assert entries[1]["train/total"] == pytest.approx(entries[1]["train/task"], rel=1e-5)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["teacher"] == summary["teacher"] and config["distill"]["clrm_epochs"] == 1

    report = json.loads((out / "comparison.json").read_text())
    assert set(report["models"]) == {"teacher", "distilled", "label_only"}
    assert report["models"]["teacher"]["model"] == "univtg" and report["models"]["distilled"]["variant"] == "1bit_nf"
    assert report["budget"] == {"epochs": 2, "batch_size": 4, "lr": 0.01} and report["seeds"] == [0]
    assert report["models"]["distilled"]["runs"][0]["checkpoint"] == str(out / "student.ckpt")
    assert report["models"]["label_only"]["runs"][0]["checkpoint"] == str(out / "label_only" / "last.ckpt")
    distilled, label = report["models"]["distilled"]["metrics"], report["models"]["label_only"]["metrics"]
    gap = report["gaps"]["distilled_minus_label_only"]
    assert gap["MR-full-R1@0.5"] == pytest.approx(distilled["MR-full-R1@0.5"] - label["MR-full-R1@0.5"], abs=1e-3)
    assert "HL-min-VeryGood-Hit1" in report["headline"]
    assert report["recipe"]["clrm_epochs"] == 1 and report["recipe"]["layer_map"] == {"0": 1, "1": 2}
    table = (out / "comparison.md").read_text()
    assert "| distilled: spikingvtg (1bit_nf) |" in table and "teacher minus distilled" in table
    assert "first 1 epoch form its CLRM stage (the train split, task weight 0), the rest train on the labels" in table


def test_several_seeds_give_one_pair_of_students_each_and_their_means(setup, tmp_path, capsys):
    out = tmp_path / "seeds"
    assert main(distill_args(setup, out, "--compare", "--seeds", "3", "5", "--epochs", "1")) == 0
    printed = capsys.readouterr().out
    assert "seed 3: trained 1 epochs" in printed and "seeds where distilled beats label only" in printed
    for seed in (3, 5):
        assert (out / f"seed_{seed}" / "student.ckpt").is_file()
        assert (
            load_model(out / f"seed_{seed}" / "label_only" / "last.ckpt")[1][METADATA_KEY]["train_config"]["seed"]
            == seed
        )
    report = json.loads((out / "comparison.json").read_text())
    assert report["seeds"] == [3, 5]
    for role in ("distilled", "label_only"):
        entry = report["models"][role]
        values = [run["metrics"]["MR-full-R1@0.5"] for run in entry["runs"]]
        assert [run["seed"] for run in entry["runs"]] == [3, 5]
        assert entry["metrics"]["MR-full-R1@0.5"] == pytest.approx(sum(values) / 2, abs=1e-3)
        assert entry["std"]["MR-full-R1@0.5"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5, abs=1e-3)
    pairs = zip(report["models"]["distilled"]["runs"], report["models"]["label_only"]["runs"])
    wins = sum(d["metrics"]["HL-min-VeryGood-Hit1"] > b["metrics"]["HL-min-VeryGood-Hit1"] for d, b in pairs)
    assert report["wins"]["HL-min-VeryGood-Hit1"] == wins
    assert "| 5 | label_only |" in (out / "comparison.md").read_text()
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_student_checkpoint_is_a_plain_student(compared):
    out, _ = compared
    student, checkpoint = load_model(out / "student.ckpt")
    assert checkpoint[METADATA_KEY]["model_name"] == "spikingvtg"
    assert checkpoint[METADATA_KEY]["distill"]["teacher_model"] == "univtg"
    recipe = torch.load(out / "last.ckpt", weights_only=True)["state_dict"]
    for name, value in student.state_dict().items():
        assert torch.equal(value, recipe[f"model.student.{name}"]), name
    label_only = model_state_dict(torch.load(out / "label_only" / "last.ckpt", weights_only=True))
    assert not all(torch.equal(value, label_only[name]) for name, value in student.state_dict().items())


def test_predict_reads_the_student_checkpoint(compared, setup, capsys):
    out, _ = compared
    code = main(["predict", "--checkpoint", str(out / "student.ckpt"), "--data", str(setup["data"]), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["count"] == 8


def test_the_runs_own_checkpoints_point_to_the_student(compared, setup, capsys):
    out, _ = compared
    data = str(setup["data"])
    code = main(["predict", "--checkpoint", str(out / "best.ckpt"), "--data", data])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "vtg distill run" in err[0] and str(out / "student.ckpt") in err[0]
    config = setup["root"] / "student_config.yaml"
    config.write_text(yaml.safe_dump({"model": STUDENT, "train": {"epochs": 2, "batch_size": 4}}))
    code = main(["train", "--config", str(config), "--data", data, "--out", str(setup["root"] / "t"),
                 "--resume", str(out / "last.ckpt")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].endswith("(resume it with vtg distill)")


def test_resumed_run_equals_uninterrupted_run(compared, setup, capsys):
    out = setup["root"] / "resumed"
    assert main(distill_args(setup, out, "--epochs", "1")) == 0
    assert main(distill_args(setup, out, "--resume", "auto")) == 0
    capsys.readouterr()
    resumed, _ = load_model(out / "student.ckpt")
    straight, _ = load_model(compared[0] / "student.ckpt")
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_student_starts_from_the_label_only_runs_weights(setup):
    """Same seed, same student: the teacher's construction does not shift the student's initialisation."""
    from vtg.checkpoint import read_checkpoint
    from vtg.engine.trainer import TrainRun, open_data

    train = TrainConfig(batch_size=4, seed=3)
    model_config = {k: v for k, v in STUDENT.items() if k != "name"}
    run = TrainRun("spikingvtg", model_config, train, setup["data"], setup["root"] / "unused", config_source="c")
    L.seed_everything(3)
    label_only = VTGModule("spikingvtg", model_config, DIMS, train).model.state_dict()
    module = build_distill_module(run, open_data(run), setup["teacher"], DistillConfig())
    assert isinstance(module, DistillModule)
    for name, value in module.model.student.state_dict().items():
        assert torch.equal(value, label_only[name]), name
    assert read_checkpoint(setup["teacher"])  # untouched


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"teacher": "missing.ckpt"}, "missing.ckpt: checkpoint not found"),
        ({"distill": {"layer_map": {0: 7}}}, "field 'distill.layer_map'"),
        ({"distill": {"clrm_epochs": 9}}, "field 'distill.clrm_epochs'"),
        ({"model": {"name": "univtg"}}, "field 'model.name': the student must be 'spikingvtg'"),
        ({"teacher": "STUDENT"}, "not a teacher"),
    ],
)
def test_user_mistakes_are_one_line(setup, compared, tmp_path, capsys, change, message):
    config = yaml.safe_load(setup["config"].read_text())
    change = dict(change)
    teacher = change.pop("teacher", str(setup["teacher"]))
    if teacher == "STUDENT":
        teacher = str(compared[0] / "student.ckpt")
    for section, values in change.items():
        config[section].update(values)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["distill", "--teacher", teacher, "--config", str(path), "--data", str(setup["data"])]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_jobs_train_the_seeds_side_by_side_into_the_same_students(setup, tmp_path, capsys):
    """--jobs 2: each seed's pair trains in its own process on one thread, and the students are those of
    the sequential run (same seeds, one thread as well: this module's fixture)."""
    outs = {jobs: tmp_path / f"jobs{jobs}" for jobs in ("1", "2")}
    for jobs, out in outs.items():
        assert main(distill_args(setup, out, "--compare", "--seeds", "3", "5", "--epochs", "1", "--jobs", jobs)) == 0
    capsys.readouterr()
    for seed in (3, 5):
        for student in ("student.ckpt", "label_only/last.ckpt"):
            one, two = (model_state_dict(load_model(out / f"seed_{seed}" / student)[1]) for out in outs.values())
            assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one), (seed, student)
    one, two = (json.loads((out / "comparison.json").read_text())["models"] for out in outs.values())
    for role in ("distilled", "label_only"):  # the same scores (the runs' checkpoint paths differ)
        assert one[role]["metrics"] == two[role]["metrics"]
        assert [run["metrics"] for run in one[role]["runs"]] == [run["metrics"] for run in two[role]["runs"]]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "1", "2"], "option --seeds: only with --compare"),
        (["--compare", "--seeds", "1", "1"], "option --seeds: repeated seed"),
        (["--compare", "--seeds", "0", "-1"], "option --seeds: expected a seed from 0"),  # before seed 0 trains
        (["--compare", "--seeds", "1", "2", "--resume", "x.ckpt"], "option --resume: with several --seeds"),
        (["--compare", "--seeds", "1", "2", "--jobs", "0"], "option --jobs: expected a positive number"),
        (["--compare", "--jobs", "2"], "option --jobs: only with several --seeds"),
    ],
)
def test_seed_option_mistakes_are_one_line(setup, tmp_path, capsys, extra, message):
    assert main(distill_args(setup, tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def with_unlabelled_split(setup: dict, root: Path, **train: Any) -> tuple[Path, Path]:
    """A copy of the tiny data with split 'unlabelled' (the val queries without windows or saliency) and a
    config whose CLRM stage (epoch 0 of 2) runs on it, its ``train:`` section updated with ``train``."""
    data = root / "data"
    if not data.exists():
        shutil.copytree(setup["data"], data)
        lines = [json.loads(line) for line in (data / "val.jsonl").read_text().splitlines()]
        unlabelled = [{key: line[key] for key in ("qid", "query", "vid", "duration")} for line in lines]
        (data / "unlabelled.jsonl").write_text("".join(json.dumps(line) + "\n" for line in unlabelled))
        spec = yaml.safe_load((data / "dataset.yaml").read_text())
        spec["splits"]["unlabelled"] = "unlabelled.jsonl"
        (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    config = yaml.safe_load(setup["config"].read_text())
    config["distill"]["transfer_split"] = "unlabelled"
    config["train"].update(train)
    path = root / f"transfer_{len(list(root.glob('transfer_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return data, path


def transfer_args(setup: dict, data: Path, config: Path, out: Path) -> list[str]:
    args = ["distill", "--teacher", str(setup["teacher"]), "--config", str(config), "--data", str(data)]
    return [*args, "--accelerator", "cpu", "--limit-val-batches", "1", "--out", str(out)]


def test_clrm_stage_draws_the_unlabelled_transfer_split_then_the_task_the_train_split(setup, tmp_path):
    data, config = with_unlabelled_split(setup, tmp_path, schedule="cosine", min_lr_ratio=0.1)
    assert main(transfer_args(setup, data, config, tmp_path / "out")) == 0
    entries = json.loads((tmp_path / "out" / "metrics.json").read_text())["epochs"]
    assert "train/task" not in entries[0] and entries[0]["train/total"] == pytest.approx(entries[0]["train/clrm"])
    assert entries[1]["train/total"] == pytest.approx(entries[1]["train/task"], rel=1e-5)
    batches = {split: -(-len((data / f"{split}.jsonl").read_text().splitlines()) // 4) for split in ("val", "train")}
    assert batches["val"] != batches["train"]  # so that the step count tells which split each epoch read
    last = torch.load(tmp_path / "out" / "last.ckpt", weights_only=True)
    assert last["global_step"] == sum(batches.values())
    # the task stage's own cosine schedule has reached its floor, lr * min_lr_ratio, at the last step
    assert last["lr_schedulers"][0]["_last_lr"][0] == pytest.approx(0.01 * 0.1)


def test_run_resumed_after_the_transfer_stage_goes_on_as_an_uninterrupted_one(setup, tmp_path, capsys):
    # a constant rate: a cosine schedule's length changes with --epochs, so a shortened run would end elsewhere
    data, config = with_unlabelled_split(setup, tmp_path)
    assert main(transfer_args(setup, data, config, tmp_path / "straight")) == 0
    assert main([*transfer_args(setup, data, config, tmp_path / "resumed"), "--epochs", "1"]) == 0
    assert main([*transfer_args(setup, data, config, tmp_path / "resumed"), "--resume", "auto"]) == 0
    capsys.readouterr()
    resumed, _ = load_model(tmp_path / "resumed" / "student.ckpt")
    straight, _ = load_model(tmp_path / "straight" / "student.ckpt")
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_missing_transfer_split_is_one_line(setup, tmp_path, capsys):
    config = yaml.safe_load(setup["config"].read_text())
    config["distill"]["transfer_split"] = "nowhere"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    args = ["distill", "--teacher", str(setup["teacher"]), "--config", str(tmp_path / "c.yaml")]
    assert main([*args, "--data", str(setup["data"]), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and err.count("\n") == 1


def test_prediction_loss_needs_a_clipwise_teacher(setup, tmp_path, capsys):
    from test_sdst_batch import TINY_MODEL as SDST_TINY

    teacher = write_teacher(tmp_path / "sdst.ckpt", "sdst", {k: v for k, v in SDST_TINY.items() if k != "name"})
    config = yaml.safe_load(setup["config"].read_text())
    config["distill"]["prediction_weight"] = 1.0
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["distill", "--teacher", str(teacher), "--config", str(path), "--data", str(setup["data"])]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "field 'distill.prediction_weight': needs a clip-wise teacher" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
