"""``vtg info`` and parameter counts by top-level module."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vtg.cli import main
from vtg.engine.parameters import OWN, human_count, parameter_counts

# the tiny model with 16-dim video and text, hidden 8: two Linear(16, 8) and one Linear(8, 4)
TINY_COUNTS = {"video": 16 * 8 + 8, "text": 16 * 8 + 8, "heads": 8 * 4 + 4}


def test_counts_by_module_with_own_frozen_and_shared_parameters():
    model = nn.Module()
    model.scale = nn.Parameter(torch.ones(3))
    model.encoder = nn.Linear(4, 5)  # 25
    model.decoder = nn.Sequential(nn.Linear(5, 2), nn.ReLU())  # 12
    model.tied = nn.Linear(4, 5)
    model.tied.weight = model.encoder.weight  # shared: counted once, under encoder
    model.loss = nn.MSELoss()  # no parameters: not listed
    model.decoder.requires_grad_(False)
    counts = parameter_counts(model)
    assert counts == {OWN: 3, "encoder": 25, "decoder": 12, "tied": 5, "total": 45, "trainable": 33}


def test_human_count():
    assert human_count(4_100_000) == "4.10 M" and human_count(6243) == "6.24 K" and human_count(12) == "12"


def test_info_of_a_checkpoint(tiny_run, capsys):
    assert main(["info", "--checkpoint", str(tiny_run / "best.ckpt"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "tiny" and info["config"] == {"hidden": 8, "dropout": 0.2}
    assert info["dims"] == {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    assert info["parameters"] == {**TINY_COUNTS, "total": 308, "trainable": 308}
    assert "MR-full-mAP" in info["metrics"] and info["versions"]["lightning"]
    assert info["train"]["schedule"] == "constant" and info["epoch"] in (0, 1)

    assert main(["info", "--checkpoint", str(tiny_run / "best.ckpt")]) == 0
    text = capsys.readouterr().out
    assert "model: tiny" in text and "total" in text and "308" in text and "MR-full-mAP" in text


def test_info_builds_a_model_from_a_config(tiny_model, tiny_config, capsys):
    args = ["info", "--config", str(tiny_config), "--dims", "video_dim=16,text_dim=16", "--json"]
    assert main(args) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"]["total"] == 308 and info["dims"]["video_levels"] == 1

    assert main(["info", "--model", "tiny", "--dims", "video_dim=32,text_dim=16,video_levels=2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"]["video"] == 32 * 8 + 8


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ("video_dim=16", "missing text_dim"),
        ("video_dim=16,text_dim=x", "text_dim must be an integer"),
        ("video_dim=16,text_dim=8,depth=2", "unknown dim 'depth'"),
        (None, "required"),
    ],
)
def test_bad_dims_option_is_one_line(tiny_model, dims, message, capsys):
    args = ["info", "--model", "tiny"] + (["--dims", dims] if dims else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "option --dims" in err and message in err and len(err.strip().splitlines()) == 1
