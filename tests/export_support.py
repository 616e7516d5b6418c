"""Shared by the export tests (onnx, nir): tiny SpikingVTG checkpoints and the step model's inputs.

The checkpoints hold random weights: the export targets must reproduce whatever weights they are given,
so training would only slow the tests down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from checkpoint_support import save_checkpoint

DIMS = {"video_dim": 12, "text_dim": 10, "video_levels": 1, "text_levels": 1}
# Vth = 0.5: with random weights and inputs every population, the decoders' included, then fires within a few steps
TINY = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 24, "tc": 4, "f_layers": 3, "d_layers": 2}
TINY["threshold"] = 0.5


def write_checkpoint(path: Path, name: str = "spikingvtg", seed: int = 0, **config: Any) -> Path:
    """Build model ``name`` from ``config`` with seeded random weights and save it as a vtg checkpoint."""
    return save_checkpoint(path, name, config, DIMS, seed=seed)


def spiking_checkpoint(path: Path, variant: str, **overrides: Any) -> Path:
    """A tiny SpikingVTG checkpoint of ``variant`` (base, nf, 1bit_nf)."""
    return write_checkpoint(path, variant=variant, **{**TINY, **overrides})


def features(batch: int, clips: int, query: int, seed: int = 5) -> dict[str, torch.Tensor]:
    """Random features and masks (the last sample padded) as the step model's inputs."""
    generator = torch.Generator().manual_seed(seed)
    video_mask = torch.ones(batch, clips, dtype=torch.bool)
    text_mask = torch.ones(batch, query, dtype=torch.bool)
    video_mask[-1, clips - clips // 3 :] = False
    text_mask[-1, query - query // 3 :] = False
    return {
        "video": torch.randn(batch, clips, DIMS["video_dim"], generator=generator) / 3,
        "text": torch.randn(batch, query, DIMS["text_dim"], generator=generator) / 3,
        "video_mask": video_mask,
        "text_mask": text_mask,
    }


def as_batch(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The step model's inputs as a model batch (one feature level)."""
    return {**inputs, "video": inputs["video"][:, :, None], "text": inputs["text"][:, :, None]}
