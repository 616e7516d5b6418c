"""Seeding every training epoch from (seed, epoch, rank), so that a resumed run repeats an uninterrupted one."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A 32-bit seed that differs for every (seed, epoch, process rank)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


class EpochSeed(L.Callback):
    """Re-seed torch, numpy and ``random`` at the start of each training epoch.

    Lightning's checkpoints do not hold the random generators' states, so a resumed run would otherwise
    start epoch e with the generators as model construction left them, not as epoch e - 1 did. Seeding
    each epoch from its number makes dropout and any other randomness of epoch e the same whether or not
    the run was resumed before it; the rank makes the processes of a DDP run draw different masks.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # also seeds every CUDA device
