"""Moving a batch (docs/ARCHITECTURE.md) to a device."""

from __future__ import annotations

from typing import Any

import torch


def move_batch(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The batch with its tensor entries on ``device``.

    ``windows`` (ground truth in seconds) and ``meta`` stay on the host: they are read only when
    predictions are written and scored, which happens on the CPU, so copying them would be wasted work.
    """
    return {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}
