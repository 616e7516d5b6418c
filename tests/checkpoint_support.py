"""One writer of test checkpoints: a model with seeded random weights, saved as the engine saves a checkpoint.

Export, energy and equilibrium tests need checkpoint files but not trained weights (what they check holds for
whatever weights they are given), so building and saving is all it takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vtg.checkpoint import MODEL_PREFIX, atomic_save, checkpoint_metadata
from vtg.models import build_model


def save_checkpoint(
    path: Path,
    name: str,
    config: dict[str, Any],
    dims: dict[str, int],
    train: dict | None = None,
    seed: int = 0,
    jitter: float = 0.0,
) -> Path:
    """Model ``name`` built from ``config`` and ``dims`` after ``torch.manual_seed(seed)``, saved to ``path``
    with ``train`` as its train: section; returns ``path``. ``jitter`` adds jitter N(0, 1) to every parameter
    (so that LayerNorm gains and zero biases differ from their initial values)."""
    torch.manual_seed(seed)
    model = build_model(name, config, dims)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(jitter * torch.randn_like(parameter))
    state = {MODEL_PREFIX + key: value for key, value in model.state_dict().items()}
    atomic_save({"state_dict": state, "vtg": checkpoint_metadata(name, config, dims, train or {}, {})}, path)
    return path
