"""A corpus of broken and hostile inputs, one per class of mistake, generated on the fly and small.

Every case must end as the toolkit promises (docs/ARCHITECTURE.md, "Command modules"): exit status 2,
one line on stderr that names the file, line or field, and nothing left behind (no output, no partial
output, no temporary). Outputs: an ``--out`` of the wrong kind or under a file, for every command that
writes; a full disk; a job failing midway. Inputs: configs (unknown sections and fields, a misspelt
monitor, absurd integers, invalid UTF-8), annotations and submissions (scores outside 0-4, invalid UTF-8,
400-digit integers, deep nesting, paths out of the dataset), feature files (clip counts against the
duration, values that overflow float32, a corrupt header), checkpoints (no dims, another weight shape,
NaN weights), options (seeds, a GPU that is not there), an energy record of hidden size 0. A killed
training run's temporaries are removed by the next run, which still resumes.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_support import train_args

import vtg.atomic
from export.command import main as export_main
from vtg.cli import main

DEAD_PID = None


def dead_pid() -> int:
    """The id of a process that has exited (what a killed run's temporaries carry)."""
    global DEAD_PID
    if DEAD_PID is None:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        DEAD_PID = child.pid
    return DEAD_PID


def tree(folder: Path) -> set[str]:
    """Every path under ``folder``, relative to it (what a refused command must leave unchanged)."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def refused(capsys, code: int, *named: str | Path) -> str:
    """Assert exit status 2 and one stderr line naming each of ``named``; return the line."""
    err = capsys.readouterr().err
    assert code == 2, err
    # a progress bar (tqdm, on stderr, redrawn after carriage returns) may precede the error on its own line
    lines = [line.rsplit("\r", 1)[-1] for line in err.strip().split("\n")]
    lines = [line for line in lines if "%|" not in line]
    assert len(lines) == 1, err
    for name in named:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture
def data(tiny_data, tmp_path) -> Path:
    """A copy of the tiny dataset that a case may damage."""
    return Path(shutil.copytree(tiny_data, tmp_path / "data"))


def first_line(path: Path) -> dict:
    return json.loads(path.read_text().splitlines()[0])


def replace_first_line(path: Path, record: dict | str) -> None:
    lines = path.read_text().splitlines()
    lines[0] = record if isinstance(record, str) else json.dumps(record)
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["predict", "--checkpoint", "{run}/last.ckpt", "--data", "{data}", "--out", "{folder}"], "folder"),
        (["data", "convert", "--dataset", "tacos", "--input", "{file}", "--out", "{folder}"], "folder"),
        (["eval", "--submission", "{file}", "--gt", "{file}", "--out", "{folder}"], "folder"),
        (["data", "synth", "--preset", "tiny", "--out", "{file}"], "file"),
        (["pool-features", "--input", "{folder}", "--out", "{file}", "--method", "avg"], "file"),
        (["train", "--config", "{config}", "--data", "{data}", "--out", "{file}"], "file"),
        (["simulate", "--bundle", "{folder}", "--data", "{data}", "--out", "{file}"], "file"),
        (["energy", "report", "--checkpoint", "{run}/last.ckpt", "--data", "{data}", "--out", "{file}"], "file"),
        (["export", "--target", "lava", "--checkpoint", "{run}/last.ckpt", "--out", "{file}"], "file"),
        (["export", "--target", "onnx", "--checkpoint", "{run}/last.ckpt", "--out", "{folder}"], "folder"),
        (["export", "--target", "nir", "--checkpoint", "{run}/last.ckpt", "--out", "{file}/under"], "under"),
        (["predict", "--checkpoint", "{run}/last.ckpt", "--data", "{data}", "--out", "{file}/x.jsonl"], "under"),
    ],
)
def test_an_output_of_the_wrong_kind_is_refused_before_any_work(
    argv, kind, tiny_run, tiny_data, tiny_config, tmp_path, capsys
):
    folder, file = tmp_path / "a_folder", tmp_path / "a_file"
    folder.mkdir()
    file.write_text("keep me\n")
    values = {"run": tiny_run, "data": tiny_data, "config": tiny_config, "folder": folder, "file": file}
    argv = [part.format(**values) for part in argv]
    before = tree(tmp_path)
    if argv[0] == "export":
        code = export_main(argv[1:])
    else:
        code = main(argv)
    line = refused(capsys, code, "option --out")
    assert {"file": "is a file", "folder": "is a folder", "under": "is a file, not a folder"}[kind] in line
    assert tree(tmp_path) == before and file.read_text() == "keep me\n"


def test_a_full_disk_ends_in_one_line_and_leaves_nothing(data, tmp_path, capsys, monkeypatch):
    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vtg.atomic.os, "fsync", full)
    source = youtube(tmp_path)
    before = tree(tmp_path)
    code = main(["data", "synth", "--preset", "tiny", "--out", str(tmp_path / "synth")])
    refused(capsys, code, "No space left on device", tmp_path / "synth")
    out = tmp_path / "y.jsonl"
    code = main(["data", "convert", "--dataset", "youtube", "--input", str(source), "--out", str(out)])
    refused(capsys, code, out, "No space left")
    assert tree(tmp_path) == before


def youtube(folder: Path) -> Path:
    path = folder / "youtube.jsonl"
    path.write_text(json.dumps({"vid": "v1", "domain": "dog", "match": [1, -1, 1], "duration": 6.0}) + "\n")
    return path


def test_a_full_disk_met_outside_vtg_atomic_is_one_line(tmp_path, capsys, monkeypatch):
    """The command line's backstop: a library's own write failing on a full disk."""
    import vtg.data.command

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "somewhere"))

    monkeypatch.setattr(vtg.data.command, "run_synth", full)
    code = main(["data", "synth", "--out", str(tmp_path / "x")])
    refused(capsys, code, "somewhere", "No space left")


def tokens_folder(tmp_path: Path, bad: str) -> Path:
    folder = tmp_path / "tokens"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        np.savez(folder / f"{name}.npz", tokens=rng.normal(size=(4, 2, 3, 8)).astype(np.float32))
    np.savez(folder / f"{bad}.npz", tokens=np.full((4, 2, 3, 8), np.nan, dtype=np.float32))
    return folder


def test_pool_features_leaves_nothing_when_a_file_midway_is_bad(tmp_path, capsys):
    inputs = tokens_folder(tmp_path, "b")  # a and c are fine, b (second) holds NaN
    out = tmp_path / "pooled"
    code = main(["pool-features", "--input", str(inputs), "--out", str(out), "--method", "avg"])
    refused(capsys, code, inputs / "b.npz", "NaN")
    assert not out.exists() and {p.name for p in tmp_path.iterdir()} == {"tokens"}


def test_a_killed_runs_temporaries_go_and_resume_auto_still_continues(tiny_run, tiny_data, tiny_config, tmp_path):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    pid = dead_pid()
    stale = [run / f".last.ckpt.{pid}.tmp", run / f".best.ckpt.{pid}.tmp", run / f".config.yaml.{pid}.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    live = run / f".metrics.json.{1}.tmp"  # pid 1 is alive: another process's temporary stays
    live.write_text("{")
    assert main(train_args(tiny_config, tiny_data, run, "--epochs", "3", "--resume", "auto", "--json")) == 0
    assert not any(path.exists() for path in stale) and live.exists()
    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 2  # epochs 0 and 1 came from the copied run, 2 was trained now


# ----------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("trian:\n  epochs: 1\n", ":3: field 'trian': unknown section"),
        ("train:\n  epochs: 1\n  monitr: MR-full-mAP\n", ":5: field 'train.monitr': unknown option"),
        ("train:\n  monitor: MR-ful-mAP\n", ":4: field 'train.monitor': 'MR-ful-mAP' is not a val metric"),
        ("train:\n  seed: -1\n", ":4: field 'train.seed'"),
        ("train:\n  epochs: " + "9" * 400 + "\n", ":4: field 'train.epochs': an integer of 400 digits"),
        ("model:\n  name: spikingvtg\n  hiden_dim: 8\n", ":3: field 'model.hiden_dim'"),
    ],
)
def test_a_config_mistake_is_refused_at_start_with_its_line(text, named, tiny_model, tiny_data, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    model = "" if text.startswith("model:") else "model:\n  name: tiny\n"
    config.write_text(model + text)
    out = tmp_path / "run"
    code = main(train_args(config, tiny_data, out))
    refused(capsys, code, f"{config}{named}" if named.startswith(":") else named)
    assert not out.exists()


def test_invalid_utf8_in_a_config_and_in_dataset_yaml(data, tiny_model, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_bytes(b"model:\n  name: tiny\n# caf\xe9\n")
    code = main(train_args(config, data, tmp_path / "run"))
    refused(capsys, code, f"{config}:3: not valid UTF-8")
    (data / "dataset.yaml").write_bytes((data / "dataset.yaml").read_bytes() + b"# \xff\n")
    code = main(["data", "info", "--root", str(data)])
    refused(capsys, code, f"{data / 'dataset.yaml'}:8: not valid UTF-8")


# ---------------------------------------------------------------------------------- annotations, features


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda r: {**r, "saliency_scores": [[9, 0, 0]] + r["saliency_scores"][1:]}, "field 'saliency_scores'"),
        (lambda r: {**r, "vid": "../../elsewhere"}, "field 'vid': '../../elsewhere' is not a file name"),
        (lambda r: {**r, "qid": "../x"}, "field 'qid'"),
        (
            lambda r: json.dumps(r).replace('"duration": 72.0', '"duration": 1' + "0" * 400),
            "401 digits is out of range",
        ),
        (lambda r: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (lambda r: b'{"qid": "caf\xe9"}', "not valid UTF-8"),
    ],
)
def test_a_bad_annotation_line_is_refused_with_file_and_line(damage, named, data, tmp_path, capsys):
    path = data / "val.jsonl"
    changed = damage(first_line(path))
    if isinstance(changed, bytes):
        path.write_bytes(changed + b"\n" + b"\n".join(path.read_bytes().splitlines()[1:]) + b"\n")
    else:
        replace_first_line(path, changed)
    code = main(["data", "info", "--root", str(data), "--split", "val"])
    refused(capsys, code, f"{path}:1", named)


def test_eval_refuses_ground_truth_scores_outside_0_to_4(data, tmp_path, capsys):
    gt = data / "val.jsonl"
    record = first_line(gt)
    record["saliency_scores"][0] = [9, 0, 0]
    replace_first_line(gt, record)
    submission = tmp_path / "preds.jsonl"
    lines = [json.loads(line) for line in gt.read_text().splitlines()]
    predictions = [
        {
            "qid": r["qid"],
            "pred_relevant_windows": [[0.0, 10.0, 1.0]],
            "pred_saliency_scores": [0.5] * int(r["duration"] // 2),
        }
        for r in lines
    ]
    submission.write_text("".join(json.dumps(p) + "\n" for p in predictions))
    out = tmp_path / "metrics.json"
    code = main(["eval", "--submission", str(submission), "--gt", str(gt), "--out", str(out)])
    refused(capsys, code, f"{gt}:1", "saliency_scores", "0-4")
    assert not out.exists()


def feature_file(data: Path) -> Path:
    return data / "video_features" / f"{first_line(data / 'val.jsonl')['vid']}.npz"


@pytest.mark.parametrize(
    ("features", "named"),
    [
        (lambda a: a[:3], "3 clips, but"),  # the video is 36 clips long
        (lambda a: np.concatenate([a] * 12)[:400], "400 clips, but"),
        (lambda a: np.full(a.shape, 1e300, dtype=np.float64), "beyond float32's range"),
    ],
)
def test_features_that_cannot_be_the_videos_are_refused(features, named, data, capsys):
    path = feature_file(data)
    with np.load(path) as archive:
        array = archive["features"]
    np.savez(path, features=features(array))
    code = main(["data", "info", "--root", str(data), "--split", "val"])
    refused(capsys, code, path, named)


def test_a_corrupt_npy_header_is_one_line(data, capsys):
    import zipfile

    path = feature_file(data)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("features.npy", b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'fortran_order': Fal")
    code = main(["data", "info", "--root", str(data), "--split", "val"])
    refused(capsys, code, path, "cannot read")


def test_feature_folders_that_leave_the_dataset_are_refused(data, tmp_path, capsys):
    (tmp_path / "elsewhere").mkdir()
    config = data / "dataset.yaml"
    config.write_text(config.read_text().replace("- video_features", "- ../elsewhere"))
    code = main(["data", "info", "--root", str(data)])
    refused(capsys, code, config, "field 'video_feature_dirs'", "leaves the dataset folder")


# ------------------------------------------------------------------------------------------- checkpoints


def damaged_checkpoint(tiny_run: Path, tmp_path: Path, damage) -> Path:
    checkpoint = torch.load(tiny_run / "last.ckpt", weights_only=True)
    damage(checkpoint)
    path = tmp_path / "damaged.ckpt"
    torch.save(checkpoint, path)
    return path


def _set_first_weight(checkpoint: dict, value) -> None:
    name = next(key for key in checkpoint["state_dict"] if key.endswith("weight"))
    checkpoint["state_dict"][name] = value(checkpoint["state_dict"][name])


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda c: c["vtg"].pop("dims"), "field 'vtg.dims'"),
        (lambda c: c["vtg"]["dims"].update(video_dim=0), "field 'vtg.dims.video_dim'"),
        (
            lambda c: _set_first_weight(c, lambda w: torch.zeros(w.shape[0] + 1, *w.shape[1:])),
            "weight 'video.weight': shape (9, 16)",
        ),
        (lambda c: _set_first_weight(c, lambda w: torch.full_like(w, float("nan"))), "contains NaN"),
    ],
)
@pytest.mark.parametrize("command", ["info", "predict"])
def test_a_damaged_checkpoint_is_refused_at_load(damage, named, command, tiny_run, tiny_data, tmp_path, capsys):
    path = damaged_checkpoint(tiny_run, tmp_path, damage)
    out = tmp_path / "preds.jsonl"
    argv = ["info", "--checkpoint", str(path)]
    if command == "predict":
        argv = ["predict", "--checkpoint", str(path), "--data", str(tiny_data), "--out", str(out)]
    refused(capsys, main(argv), path, named)
    assert not out.exists()


# ----------------------------------------------------------------------------------------------- options


@pytest.mark.parametrize("seed", ["-1", str(2**40)])
@pytest.mark.parametrize("command", ["train", "synth", "pool"])
def test_a_seed_out_of_range_is_refused(seed, command, tiny_model, tiny_data, tiny_config, tmp_path, capsys):
    out = tmp_path / "out"
    argv = {
        "train": train_args(tiny_config, tiny_data, out, "--seed", seed),
        "synth": ["data", "synth", "--preset", "tiny", "--out", str(out), "--seed", seed],
        "pool": [
            "pool-features",
            "--input",
            str(tokens_folder(tmp_path, "d")),
            "--out",
            str(out),
            "--method",
            "avg",
            "--seed",
            seed,
        ],
    }[command]
    refused(capsys, main(argv), "--seed", seed)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("command", ["train", "distill", "predict"])
def test_a_gpu_that_is_not_there_is_refused_at_start(command, tiny_model, tiny_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "out"
    config = tmp_path / "student.yaml"
    config.write_text("model:\n  name: spikingvtg\n")
    gpu = ["--accelerator", "gpu"]
    argv = {
        "train": ["train", "--config", str(config), "--data", str(tiny_data), "--out", str(out), *gpu],
        "distill": ["distill", "--teacher", str(tiny_run / "last.ckpt"), "--config", str(config)]
        + ["--data", str(tiny_data), "--out", str(out), *gpu],
        "predict": ["predict", "--checkpoint", str(tiny_run / "last.ckpt"), "--data", str(tiny_data)]
        + ["--out", str(out), *gpu],
    }[command]
    refused(capsys, main(argv), "option --accelerator")
    assert not out.exists()


def test_energy_measure_refuses_a_simulation_of_hidden_size_0(tmp_path, capsys):
    simulation = tmp_path / "simulation"
    simulation.mkdir()
    component = {"spikes": [1, 2], "neurons": 8, "fan_out": 2}
    record = {"video_tokens": [3], "text_tokens": [2], "activity": {"sfg": component, "layer0.k": component}}
    model = {"hidden": 0, "video_dim": 4, "text_dim": 4, "layers": 1, "heads": 1, "softmax": False, "layernorm": False}
    activity = {"format": "vtg-activity/1", "snn_op": "int_acc", "model": model, "records": [record]}
    (simulation / "activity.json").write_text(json.dumps(activity))
    code = main(["energy", "measure", "--simulation", str(simulation)])
    refused(capsys, code, simulation / "activity.json", "field 'model.hidden'")
