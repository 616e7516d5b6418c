"""Learning-rate schedule: linear warm-up, then constant or cosine decay (per optimizer step), per stage."""

from __future__ import annotations

import math


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str, min_ratio: float) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    Warm-up goes linearly from 1/(warmup_steps+1) to 1 so that the first step already learns; cosine then
    falls from 1 at the end of warm-up to ``min_ratio`` at ``total_steps``::

        factor = min_ratio + (1 - min_ratio) * (1 + cos(pi * progress)) / 2,  progress in [0, 1]
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def staged_lr_factor(step: int, stage_steps: tuple[int, ...], warmup_steps: int, schedule: str, min_ratio: float):
    """:func:`lr_factor` restarted at every stage: ``stage_steps`` holds each stage's optimizer steps, in
    order, and each stage warms up and decays over its own steps, as separate runs would (one stage: a
    plain run; two: the CLRM stage and the task stage of ``vtg distill``)."""
    for length in stage_steps[:-1]:
        if step < length:
            return lr_factor(step, warmup_steps, length, schedule, min_ratio)
        step -= length
    return lr_factor(step, warmup_steps, stage_steps[-1], schedule, min_ratio)
