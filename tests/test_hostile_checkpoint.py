"""Files from strangers are data, never code: a checkpoint or feature file whose pickle carries a payload.

Each hostile file would create a marker file if it were unpickled as Python objects (its ``__reduce__``
calls ``os.system``); every command that reads it must refuse it in one line naming the file, with
exit status 2, and the marker must never appear. Checkpoints the project writes itself are plain data
and still load (tests/test_engine_*.py read them with ``weights_only=True`` too).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_support import train_args

from export.command import main as export_main
from vtg.checkpoint import METADATA_KEY, atomic_save, checkpoint_metadata, plain_data, read_checkpoint
from vtg.cli import main
from vtg.engine.checkpoint import AtomicCheckpointIO
from vtg.errors import UserError
from vtg.models import build_model


class Payload:
    """Unpickled as Python objects, this runs ``touch MARKER`` (what an attacker's checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.fixture
def hostile(tiny_run, tmp_path) -> tuple[Path, Path]:
    """(checkpoint, marker): the tiny run's real checkpoint with a payload inside its metadata, so that a
    loader that unpickled it would go on to succeed with it."""
    marker = tmp_path / "payload-ran"
    checkpoint = torch.load(tiny_run / "last.ckpt", weights_only=True)
    checkpoint[METADATA_KEY]["model_config"] = {**checkpoint[METADATA_KEY]["model_config"], "x": Payload(marker)}
    path = tmp_path / "hostile.ckpt"
    torch.save(checkpoint, path)  # torch.save, not atomic_save: atomic_save refuses anything but plain data
    return path, marker


def one_line_error(capsys, code: int, path: Path) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and str(path) in err, err
    return err


def test_the_payload_is_live(hostile):
    """The fixture has teeth: an unsafe load runs the payload (so the tests below show something)."""
    path, marker = hostile
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["info", "--checkpoint", "{ckpt}"],
        ["predict", "--checkpoint", "{ckpt}", "--data", "{data}", "--out", "{tmp}/preds.jsonl"],
        ["energy", "report", "--checkpoint", "{ckpt}", "--data", "{data}", "--out", "{tmp}/energy"],
        ["export", "--target", "lava", "--checkpoint", "{ckpt}", "--out", "{tmp}/bundle"],
        ["train", "--resume", "{ckpt}"],
    ],
    ids=lambda command: command[0],
)
def test_no_command_runs_a_checkpoint_payload(hostile, tiny_model, tiny_config, tiny_data, tmp_path, capsys, command):
    path, marker = hostile
    argv = [part.format(ckpt=path, data=tiny_data, tmp=tmp_path) for part in command]
    if argv[0] == "export":
        code = export_main(argv[1:])
    elif argv[0] == "train":
        code = main([*train_args(tiny_config, tiny_data, tmp_path / "run", "--epochs", "2"), *argv[1:]])
    else:
        code = main(argv)
    err = one_line_error(capsys, code, path)
    assert "refused: not a checkpoint of plain data" in err and "could run code" in err
    assert not marker.exists()


def test_resume_auto_refuses_a_planted_last_checkpoint(hostile, tiny_model, tiny_config, tiny_data, tmp_path, capsys):
    path, marker = hostile
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(path, out / "last.ckpt")
    code = main(train_args(tiny_config, tiny_data, out, "--epochs", "2", "--resume", "auto"))
    one_line_error(capsys, code, out / "last.ckpt")
    assert not marker.exists()


def test_teacher_of_distill_is_read_safely(hostile, tiny_data, tmp_path, capsys):
    path, marker = hostile
    config = tmp_path / "distill.yaml"
    config.write_text("model: {name: spikingvtg, variant: 1bit_nf, hidden_dim: 8, num_layers: 1, num_heads: 2}\n")
    argv = ["distill", "--teacher", str(path), "--config", str(config), "--data", str(tiny_data)]
    one_line_error(capsys, main([*argv, "--out", str(tmp_path / "out"), "--accelerator", "cpu"]), path)
    assert not marker.exists()


def test_teacher_of_energy_report_is_read_safely(hostile, tiny_data, tmp_path, capsys):
    path, marker = hostile
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}  # the tiny preset's
    config = {"variant": "1bit_nf", "hidden_dim": 8, "num_layers": 1, "num_heads": 2, "ffn_dim": 8, "tc": 2}
    model = build_model("spikingvtg", config, dims)
    state = {f"model.{key}": value for key, value in model.state_dict().items()}
    student = tmp_path / "student.ckpt"
    atomic_save({"state_dict": state, METADATA_KEY: checkpoint_metadata("spikingvtg", config, dims, {}, {})}, student)
    argv = ["energy", "report", "--checkpoint", str(student), "--teacher", str(path), "--data", str(tiny_data)]
    one_line_error(capsys, main([*argv, "--tc", "1", "--limit", "2", "--out", str(tmp_path / "energy")]), path)
    assert not marker.exists()


def test_lightning_resume_loads_through_the_safe_reader(hostile, tiny_run):
    """Lightning's own resume reads with the plugin's load_checkpoint: plain data only, whatever it asks."""
    path, marker = hostile
    plugin = AtomicCheckpointIO()
    with pytest.raises(UserError, match="refused"):
        plugin.load_checkpoint(path, weights_only=False)
    assert not marker.exists()
    loaded = plugin.load_checkpoint(tiny_run / "last.ckpt")
    assert loaded["epoch"] == 1 and "optimizer_states" in loaded and "loops" in loaded


def test_a_torchscript_archive_is_refused(tmp_path):
    """torch.load hands TorchScript archives to torch.jit.load even with weights_only=True: refused first."""
    path = tmp_path / "scripted.ckpt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(UserError, match="TorchScript"):
        read_checkpoint(path)


def test_checkpoints_are_written_as_plain_data(tmp_path):
    """What the project writes is converted to plain data; what cannot be is refused while writing."""

    class Version(str):
        pass

    value = plain_data({"path": Path("/x"), "version": Version("2.3"), "n": np.int64(3), "a": np.ones(2)})
    assert value == {"path": "/x", "version": "2.3", "n": 3, "a": value["a"]} and type(value["version"]) is str
    assert isinstance(value["a"], torch.Tensor) and type(plain_data(OrderedDict(a=1))) is OrderedDict
    with pytest.raises(TypeError, match=r"checkpoint\['bad'\]: .*Payload is not plain data"):
        atomic_save({"bad": Payload(tmp_path / "m")}, tmp_path / "x.ckpt")
    assert not (tmp_path / "x.ckpt").exists()


def test_a_pickled_feature_file_is_refused(tiny_model, tiny_run, tiny_data, tmp_path, capsys):
    """An .npz feature whose array is an object array (a pickle) is refused in one line, nothing run."""
    data = shutil.copytree(tiny_data, tmp_path / "data")
    marker = tmp_path / "payload-ran"
    hostile = np.array([Payload(marker)], dtype=object)
    for file in data.rglob("*.npz"):  # whichever the command reads first
        np.savez(file, features=hostile, last_hidden_state=hostile)
    argv = ["predict", "--checkpoint", str(tiny_run / "best.ckpt"), "--data", str(data), "--split", "val"]
    err = one_line_error(capsys, main([*argv, "--out", str(tmp_path / "p.jsonl")]), data)
    assert "allow_pickle" in err or "Object arrays" in err
    assert not marker.exists()
