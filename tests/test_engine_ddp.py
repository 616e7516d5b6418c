"""Multi-process training with PyTorch's DDP: two CPU processes (gloo) launched by torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from vtg.checkpoint import METADATA_KEY
from vtg.cli import main
from vtg.engine.trainer import distributed_layout

# the UniVTG-style teacher, at a size that trains in seconds (a model the torchrun children find in the registry)
CONFIG = """\
model:
  name: univtg
  hidden_dim: 16
  num_layers: 1
  num_heads: 2
  ffn_dim: 16
train:
  batch_size: 4
  lr: 0.001
"""


@pytest.mark.slow
def test_two_gloo_processes_train_one_epoch(tiny_data, tmp_path, capsys):
    config, out = tmp_path / "univtg.yaml", tmp_path / "ddp"
    config.write_text(CONFIG)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "vtg.cli", "train", "--config", str(config), "--data", str(tiny_data), "--out", str(out)]
    command += ["--epochs", "1", "--accelerator", "cpu", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr and "Starting with 2 processes" in result.stderr

    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # only rank 0 reports
    summary = json.loads(lines[0])
    assert summary["epochs"] == 1 and summary["checkpoints"]["last"] == str(out / "last.ckpt")

    checkpoint = torch.load(out / "last.ckpt", weights_only=True)
    # 24 training queries in shards of 12 per process, batches of 4: 3 optimizer steps
    assert checkpoint["global_step"] == 3
    # validation scored the predictions of both processes: the same metrics as predicting the whole split
    assert main(["predict", "--checkpoint", str(out / "last.ckpt"), "--data", str(tiny_data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert checkpoint[METADATA_KEY]["metrics"] == pytest.approx(metrics, abs=0.011)


@pytest.mark.parametrize(
    ("env", "devices", "layout"),
    [
        ({}, None, (1, 1)),
        ({}, 2, (2, 1)),
        # a child process of Lightning's own launcher (vtg train --devices 2): WORLD_SIZE alone
        ({"WORLD_SIZE": "2", "LOCAL_RANK": "1"}, 2, (2, 1)),
        # torchrun --nnodes 2 --nproc_per_node 4
        ({"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}, None, (4, 2)),
    ],
)
def test_distributed_layout(monkeypatch, env, devices, layout):
    for name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert distributed_layout(devices) == layout
