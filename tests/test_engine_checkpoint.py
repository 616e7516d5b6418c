"""Checkpoint files: atomic writes, the Lightning plugin, and one-line errors for unreadable files."""

from __future__ import annotations

import pytest
import torch

from vtg import atomic
from vtg.checkpoint import atomic_save, load_model, read_checkpoint
from vtg.cli import main
from vtg.engine.checkpoint import AtomicCheckpointIO
from vtg.errors import UserError


def test_failure_midway_keeps_the_old_checkpoint_and_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_save({"version": 1}, path)

    def torch_save_that_dies(obj, file):
        file.write(b"half a checkpoint")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", torch_save_that_dies)
    with pytest.raises(RuntimeError, match="disk full"):
        AtomicCheckpointIO().save_checkpoint({"version": 2}, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert torch.load(path) == {"version": 1}


def test_interrupted_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic.atomic_write_text(path, "old")

    def no_rename(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", no_rename)
    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_plugin_writes_where_asked_creating_the_folder(tmp_path):
    path = tmp_path / "deep" / "er" / "x.ckpt"
    AtomicCheckpointIO().save_checkpoint({"a": torch.arange(3)}, path)
    assert torch.equal(torch.load(path)["a"], torch.arange(3))


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a readable checkpoint"), (b"PK\x03\x04 garbage", "not a readable checkpoint"), (None, "not found")],
)
def test_unreadable_checkpoints_are_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.ckpt"
    if content is not None:
        path.write_bytes(content)
    assert main(["info", "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err and len(err.strip().splitlines()) == 1


def test_checkpoint_of_another_format_is_refused(tmp_path):
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "epoch": 3}, path)
    with pytest.raises(UserError, match="not a vtg checkpoint"):
        read_checkpoint(path)


def test_load_model_rebuilds_the_trained_weights(tiny_run):
    model, checkpoint = load_model(tiny_run / "last.ckpt")
    assert not model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, checkpoint["state_dict"][f"model.{name}"])


def test_weights_that_do_not_fit_the_model_are_one_line(tiny_run, tmp_path):
    checkpoint = torch.load(tiny_run / "last.ckpt", weights_only=True)
    checkpoint["state_dict"]["model.extra.weight"] = torch.zeros(2)
    del checkpoint["state_dict"]["model.heads.bias"]
    atomic_save(checkpoint, tmp_path / "edited.ckpt")
    with pytest.raises(UserError, match="missing heads.bias; unexpected extra.weight"):
        load_model(tmp_path / "edited.ckpt")


# writes a SpikingVTG checkpoint and rebuilds it in a fresh interpreter beside the modules that read
# checkpoints outside training (evaluation, vtg-export, vtg energy), then lists what got imported
WRITE_AND_LOAD = """
import sys
import torch
import energy.command, energy.report, export.command, vtg.evaluation
from vtg.checkpoint import atomic_save, checkpoint_metadata, load_model
from vtg.models import build_model

dims = {"video_dim": 6, "text_dim": 5, "video_levels": 1, "text_levels": 1}
config = {"hidden_dim": 8, "num_layers": 1, "num_heads": 2, "ffn_dim": 12, "tc": 2}
model = build_model("spikingvtg", config, dims)
state = {"model." + key: value for key, value in model.state_dict().items()}
atomic_save({"state_dict": state, "vtg": checkpoint_metadata("spikingvtg", config, dims, {}, {})}, sys.argv[1])
loaded, checkpoint = load_model(sys.argv[1])
assert all(torch.equal(value, model.state_dict()[key]) for key, value in loaded.state_dict().items())
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in ("lightning", "pytorch_lightning"))))
print(" ".join(sorted(name for name in sys.modules if name.startswith("vtg.engine"))))
"""


def test_checkpoints_are_written_and_read_without_lightning_or_the_engine(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", WRITE_AND_LOAD, str(tmp_path / "student.ckpt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lightning, engine = result.stdout.split("\n")[:2]
    assert lightning == "" and engine == ""
