"""The ``train:`` section of a config, checked field by field, with command-line overrides on top.

Every field is optional; the defaults are those of :class:`TrainConfig`::

    train:
      epochs: 20
      batch_size: 16              # per process
      lr: 0.001                   # AdamW
      weight_decay: 0.0001
      schedule: cosine            # or constant, or step; all after warmup_steps of linear warm-up (per optimizer step)
      warmup_steps: 0
      min_lr_ratio: 0.0           # cosine ends at lr * min_lr_ratio
      lr_decay_epochs: 0          # step: lr *= lr_decay_factor every this many epochs (vtg/engine/schedule.py)
      lr_decay_factor: 0.1
      grad_clip: 0.0              # max gradient norm, 0 = no clipping
      accumulate_grad_batches: 1
      seed: 0
      num_workers: 0              # DataLoader worker processes
      max_video_len: null         # keep at most this many clips (and query tokens) per item
      max_query_len: null
      monitor: MR-full-mAP        # val metric (or val/<loss term>) that chooses best.ckpt
      monitor_mode: max
      limit_train_batches: 1.0    # a fraction of the batches, or an integer number of them
      limit_val_batches: 1.0
      deterministic: true         # torch's deterministic algorithms where they exist (the thread governor still
                                  # follows the machine's load unless OMP_NUM_THREADS is set: vtg/threads.py)
      precision: 32-true          # or 16-mixed, bf16-mixed (GPUs)
      matmul_precision: highest   # float32 matrix products: high or medium allow TF32 / bf16 passes (GPUs)
      find_unused_parameters: true  # DDP: parameters without gradient in some steps
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from vtg.config import config_location
from vtg.engine.schedule import SCHEDULES, schedule_mistake
from vtg.errors import UserError, check_seed

CHOICES = {
    "schedule": SCHEDULES,
    "monitor_mode": ("max", "min"),
    "precision": ("32-true", "16-mixed", "bf16-mixed"),
    "matmul_precision": ("highest", "high", "medium"),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything about a training run except the model and the data."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    lr_decay_epochs: int = 0
    lr_decay_factor: float = 0.1
    grad_clip: float = 0.0
    accumulate_grad_batches: int = 1
    seed: int = 0
    num_workers: int = 0
    max_video_len: int | None = None
    max_query_len: int | None = None
    monitor: str = "MR-full-mAP"
    monitor_mode: str = "max"
    # Lightning's convention: a float is a fraction of the batches, an int a number of batches
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    deterministic: bool = True
    precision: str = "32-true"  # Lightning's: mixed precision ("16-mixed", "bf16-mixed") is for GPUs
    # torch.set_float32_matmul_precision during training: "high" lets float32 products run as TF32 on GPUs
    # with tensor cores; neuron membranes and threshold comparisons stay float32 either way (spiking/neuron.py)
    matmul_precision: str = "highest"
    # models whose loss leaves some parameters without gradient (e.g. an unused head) need this under DDP
    find_unused_parameters: bool = True

    @classmethod
    def from_sections(cls, section: Any, overrides: dict[str, Any], source: str = "config") -> TrainConfig:
        """Fields of the ``train:`` section of config file ``source``, then ``overrides`` on top.

        ``overrides`` maps field names to command-line values; ``None`` means "not given".
        """
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise UserError(f"{source}: field 'train': expected a mapping, got {type(section).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        values: dict[str, Any] = {}
        for key, value in section.items():
            if key not in names:
                raise UserError(
                    f"{config_location(source, f'train.{key}')}: unknown option (choose from {', '.join(names)})"
                )
            values[key] = _checked(key, value, config_location(source, f"train.{key}"))
        for key, value in overrides.items():
            if value is not None:
                values[key] = _checked(key, value, f"option --{key.replace('_', '-')}")
        config = cls(**values)
        mistake = schedule_mistake(config.schedule, config.lr_decay_epochs)
        if mistake is not None:
            raise UserError(f"{config_location(source, f'train.{mistake[0]}')}: {mistake[1]}")
        return config

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (as stored in checkpoints and written to ``config.yaml``)."""
        return dataclasses.asdict(self)


def _checked(name: str, value: Any, location: str) -> Any:
    """``value`` converted to the type of field ``name``, or a :class:`UserError` at ``location``."""
    default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}[name]
    if name in ("limit_train_batches", "limit_val_batches"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{location}: expected a number of batches or a fraction, got {value!r}")
        if isinstance(value, float) and not 0.0 < value <= 1.0:
            raise UserError(f"{location}: a fraction must be in (0, 1], got {value}")
        if isinstance(value, int) and value < 1:
            raise UserError(f"{location}: expected at least 1 batch, got {value}")
        return value
    if name in ("max_video_len", "max_query_len"):
        if value is None:
            return None
        default = 1
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{location}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{location}: expected an integer, got {value!r}")
        if name == "seed":
            return check_seed(value, location)
        # only the warm-up, the worker count and lr_decay_epochs (no step decay) may be zero
        minimum = 0 if name in ("warmup_steps", "num_workers", "lr_decay_epochs") else 1
        if value < minimum:
            raise UserError(f"{location}: expected an integer >= {minimum}, got {value}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{location}: expected a number, got {value!r}")
        if value < 0 or (name in ("min_lr_ratio", "lr_decay_factor") and value > 1):
            raise UserError(f"{location}: out of range, got {value}")
        if name == "lr" and value == 0:
            raise UserError(f"{location}: expected a positive learning rate, got {value}")
        if name == "lr_decay_factor" and value == 0:
            raise UserError(f"{location}: expected a factor in (0, 1], got {value}")
        return float(value)
    if not isinstance(value, str) or not value:
        raise UserError(f"{location}: expected a string, got {value!r}")
    if name in CHOICES and value not in CHOICES[name]:
        raise UserError(f"{location}: expected one of {', '.join(CHOICES[name])}, got {value!r}")
    if name == "monitor" and not value.startswith("val/"):
        # known at start, not after a whole epoch (whether the data has saliency is checked after validation)
        from vtg.evaluation import metric_names

        names = metric_names()
        if value not in names:
            choices = ", ".join(names)
            raise UserError(f"{location}: {value!r} is not a val metric (choose from {choices}, or a val/<loss term>)")
    return value
