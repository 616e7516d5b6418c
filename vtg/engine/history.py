"""The per-epoch record of a run, kept in its checkpoints and written to ``metrics.json``.

``metrics.json``::

    {"monitor": "MR-full-mAP", "mode": "max",
     "final": {...the last epoch's entry...},
     "best": {...the entry with the best monitored value...},
     "epochs": [{"epoch": 0, "step": 12, "train/total": .., "val/total": .., "MR-full-mAP": .., ...}, ...],
     ...the extra fields given (model, data)}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L

from vtg.atomic import atomic_write_text
from vtg.json_file import to_json

# the per-step progress-bar value; its epoch mean is logged as train/total
SKIPPED = {"loss"}


class MetricsHistory(L.Callback):
    """Append the epoch's logged metrics at the end of each training epoch (after validation).

    Its state (the entries so far) travels in the checkpoints, so a resumed run's ``metrics.json`` lists
    every epoch. Runs before ``ModelCheckpoint`` in the same hook, so a checkpoint includes its own epoch.
    """

    def __init__(self, path: str | Path, monitor: str, mode: str, extra: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.monitor = monitor
        self.mode = mode
        self.extra = dict(extra or {})
        self.entries: list[dict[str, Any]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items() if name not in SKIPPED}
        # the module's own copy of the official metrics is exact; callback_metrics hold float32 tensors
        metrics.update(getattr(pl_module, "val_metrics", {}))
        self.entries.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **metrics})
        if trainer.is_global_zero:
            atomic_write_text(self.path, to_json(self.summary(), indent=2) + "\n")

    def best(self) -> dict[str, Any] | None:
        """The entry with the best finite monitored value (``None`` before any)."""
        scored = [e for e in self.entries if math.isfinite(e.get(self.monitor, math.nan))]
        if not scored:
            return None
        pick = max if self.mode == "max" else min
        return pick(scored, key=lambda entry: entry[self.monitor])

    def summary(self) -> dict[str, Any]:
        """The content of ``metrics.json``."""
        return {
            **self.extra,
            "monitor": self.monitor,
            "mode": self.mode,
            "final": self.entries[-1] if self.entries else None,
            "best": self.best(),
            "epochs": self.entries,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"entries": self.entries}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.entries = list(state_dict["entries"])
