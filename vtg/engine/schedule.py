"""Learning-rate schedule: linear warm-up, then constant, cosine or step decay (per optimizer step), per stage.

The ``train:`` fields that drive it (checked in :mod:`vtg.engine.train_config`)::

    schedule: step              # constant | cosine | step
    warmup_steps: 2000          # linear warm-up over this many optimizer steps
    min_lr_ratio: 0.0           # cosine's floor: it ends at lr * min_lr_ratio
    lr_decay_epochs: 20         # step: multiply the lr by lr_decay_factor every this many epochs
    lr_decay_factor: 0.1

``schedule: step`` is SDST's Table A (Pujol-Perich et al.): 2000 warm-up iterations, then a step decay every
20 epochs (QVHighlights; 30 for Charades-STA). The paper does not print the factor; 0.1 is the step-schedule
default of the detection toolboxes its DETR lineage comes from.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vtg.engine.train_config import TrainConfig

SCHEDULES = ("constant", "cosine", "step")


def lr_factor(
    step: int,
    warmup_steps: int,
    total_steps: int,
    schedule: str,
    min_ratio: float,
    decay_steps: int = 0,
    decay_factor: float = 1.0,
) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    Warm-up goes linearly from 1/(warmup_steps+1) to 1 so that the first step already learns; cosine then
    falls from 1 at the end of warm-up to ``min_ratio`` at ``total_steps``::

        factor = min_ratio + (1 - min_ratio) * (1 + cos(pi * progress)) / 2,  progress in [0, 1]

    and step decay multiplies by ``decay_factor`` every ``decay_steps`` steps counted from the first step
    (warm-up included, as an epoch count is)::

        factor = decay_factor ** floor(step / decay_steps)
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        if decay_steps < 1:
            raise ValueError(f"step decay needs decay_steps >= 1, got {decay_steps}")
        return decay_factor ** (step // decay_steps)
    decay_span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def staged_lr_factor(
    step: int,
    stage_steps: tuple[int, ...],
    warmup_steps: int,
    schedule: str,
    min_ratio: float,
    decay_steps: int = 0,
    decay_factor: float = 1.0,
) -> float:
    """:func:`lr_factor` restarted at every stage: ``stage_steps`` holds each stage's optimizer steps, in
    order, and each stage warms up and decays over its own steps, as separate runs would (one stage: a
    plain run; two: the CLRM stage and the task stage of ``vtg distill``)."""
    factor = functools.partial(
        lr_factor, warmup_steps=warmup_steps, schedule=schedule, min_ratio=min_ratio,
        decay_steps=decay_steps, decay_factor=decay_factor,
    )  # fmt: skip
    for length in stage_steps[:-1]:
        if step < length:
            return factor(step, total_steps=length)
        step -= length
    return factor(step, total_steps=stage_steps[-1])


def schedule_factor(train: TrainConfig, stage_steps: tuple[int, ...]) -> Callable[[int], float]:
    """The factor of ``train``'s schedule for ``torch.optim.lr_scheduler.LambdaLR`` (stepped every optimizer
    step) over a run of ``stage_steps`` optimizer steps per stage.

    An epoch is ``sum(stage_steps) / train.epochs`` optimizer steps (exact when every epoch has as many
    batches; a stage of other epochs, as a transfer split's, decays after the run's mean epoch length).
    """
    decay_steps = 0
    if train.schedule == "step":
        epoch_steps = sum(stage_steps) / train.epochs
        decay_steps = max(1, round(train.lr_decay_epochs * epoch_steps))
    return functools.partial(
        staged_lr_factor,
        stage_steps=stage_steps,
        warmup_steps=train.warmup_steps,
        schedule=train.schedule,
        min_ratio=train.min_lr_ratio,
        decay_steps=decay_steps,
        decay_factor=train.lr_decay_factor,
    )


def schedule_mistake(schedule: str, lr_decay_epochs: int) -> tuple[str, str] | None:
    """``(field, message)`` when the schedule fields do not fit together, else None."""
    if schedule == "step" and lr_decay_epochs < 1:
        return (
            "lr_decay_epochs",
            f"schedule: step decays every lr_decay_epochs epochs, expected >= 1, got {lr_decay_epochs}",
        )
    if schedule != "step" and lr_decay_epochs:
        return "lr_decay_epochs", f"only schedule: step decays by epochs (schedule is {schedule})"
    return None
