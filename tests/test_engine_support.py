"""Shared by the engine tests: a tiny clip-wise model registered as ``tiny``, and a tiny dataset.

The model follows the interface of docs/ARCHITECTURE.md (build/forward/loss/predict) with dropout, so
that runs depend on the random generators (what resume and seeding must get right). Importable by name
(``test_engine_support:build``) so that a ``torchrun`` child process can build it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vtg.models
from vtg.cli import main

TINY_CONFIG = "model:\n  name: tiny\n  hidden: 8\n  dropout: 0.2\ntrain:\n  batch_size: 4\n  lr: 0.01\n  seed: 3\n"


class TinyModel(nn.Module):
    """Projects video and mean-pooled text, multiplies them, reads f, d and s from the product."""

    def __init__(self, config: dict[str, Any], dims: dict[str, int]):
        super().__init__()
        hidden = int(config.get("hidden", 8))
        self.video = nn.Linear(dims["video_dim"], hidden)
        self.text = nn.Linear(dims["text_dim"], hidden)
        self.dropout = nn.Dropout(float(config.get("dropout", 0.0)))
        self.heads = nn.Linear(hidden, 4)  # foreground, two offsets, saliency

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        video = self.video(batch["video"][:, :, -1])  # (B, Lv, H)
        mask = batch["text_mask"].unsqueeze(-1).float()  # (B, Lq, 1)
        text = (self.text(batch["text"][:, :, -1]) * mask).sum(1) / mask.sum(1)  # (B, H)
        out = self.heads(self.dropout(video * text[:, None]))  # (B, Lv, 4)
        return {"foreground_logits": out[..., 0], "boundary": F.softplus(out[..., 1:3]), "saliency": out[..., 3]}

    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mask = batch["video_mask"].float()  # (B, Lv)
        fg = F.binary_cross_entropy_with_logits(outputs["foreground_logits"], batch["foreground"], weight=mask)
        inside = (batch["foreground"] * mask).unsqueeze(-1)  # (B, Lv, 1)
        boundary = (F.l1_loss(outputs["boundary"], batch["boundary"], reduction="none") * inside).mean()
        return {"foreground": fg, "boundary": boundary, "total": fg + boundary}

    @torch.no_grad()
    def predict(self, batch: dict[str, Any], outputs: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        predictions = []
        for b, meta in enumerate(batch["meta"]):
            n = int(batch["video_mask"][b].sum())
            clip_len, duration = float(meta["clip_len"]), float(meta["duration"])
            scores = outputs["foreground_logits"][b, :n].sigmoid().cpu()  # (n,)
            offsets = outputs["boundary"][b, :n].cpu()  # (n, 2)
            centres = torch.arange(n) + 0.5
            starts = ((centres - offsets[:, 0]) * clip_len).clamp(0, duration)
            ends = ((centres + offsets[:, 1]) * clip_len).clamp(0, duration)
            order = scores.argsort(descending=True)[:5].tolist()
            predictions.append(
                {
                    "qid": meta["qid"],
                    "query": meta["query"],
                    "vid": meta["vid"],
                    "pred_relevant_windows": [[float(starts[i]), float(ends[i]), float(scores[i])] for i in order],
                    "pred_saliency_scores": (scores + outputs["saliency"][b, :n].cpu()).tolist(),
                }
            )
        return predictions


def build(config: dict[str, Any], dims: dict[str, int]) -> TinyModel:
    """Registry entry of the tiny model."""
    return TinyModel(config, dims)


@pytest.fixture
def tiny_model(monkeypatch):
    """Register the tiny model as ``tiny`` for the test."""
    monkeypatch.setitem(vtg.models.MODEL_BUILDERS, "tiny", "test_engine_support:build")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A tiny synthetic dataset folder (24 train and 8 val queries, 16-dim features, 2 levels)."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    assert main(["data", "synth", "--preset", "tiny", "--out", str(root), "--seed", "0"]) == 0
    return root


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    """A config file for the tiny model."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    return path
