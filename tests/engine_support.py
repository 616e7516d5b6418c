"""Shared by the engine tests: a tiny clip-wise model, its config, and ``vtg train``'s arguments for it.

The model follows the interface of docs/ARCHITECTURE.md (build/forward/loss/predict) with dropout, so
that runs depend on the random generators (what resume and seeding must get right). The registry holds
import paths, so conftest.py's ``tiny_model`` fixture registers it as ``engine_support:build``; its
``tiny_data``, ``tiny_config`` and ``tiny_run`` fixtures give the dataset, config file and a training run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vtg.postprocess.predictions import batch_predictions

# constant learning rate after a warm-up: the schedule does not depend on the number of epochs, so a run
# of 1 epoch resumed for a 2nd follows the same learning rates as a run of 2
TINY_CONFIG = """\
model:
  name: tiny
  hidden: 8
  dropout: 0.2
train:
  batch_size: 4
  lr: 0.01
  schedule: constant
  warmup_steps: 3
  seed: 3
"""


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
        foreground = outputs["foreground_logits"].sigmoid()  # (B, Lv)
        return batch_predictions(batch, foreground, outputs["boundary"], foreground + outputs["saliency"])


def build(config: dict[str, Any], dims: dict[str, int]) -> TinyModel:
    """Registry entry of the tiny model."""
    return TinyModel(config, dims)


def train_args(config: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """``vtg train`` arguments for the tiny model (CPU, JSON output)."""
    return ["train", "--config", str(config), "--data", str(data), "--out", str(out), "--accelerator", "cpu", *extra]
