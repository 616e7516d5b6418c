"""The LightningDataModule over a dataset folder: a train and a validation split of :class:`VTGDataset`.

Both loaders use ``DistributedSampler`` even in a single process (one replica): its order depends only on
the seed and the epoch (Lightning calls ``set_epoch``), so a resumed run sees the same batches as an
uninterrupted one, and under DDP each process gets its own shard. The trainer is therefore built with
``use_distributed_sampler=False``.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

from vtg.data.annotations import annotation_to_record
from vtg.data.collate import collate, move_batch
from vtg.data.dataset import VTGDataset
from vtg.evaluation import nonempty


class VTGDataModule(L.LightningDataModule):
    """Loaders over ``root``'s ``train_split`` (shuffled) and ``val_split`` (in file order).

    The datasets are opened at construction, so that a missing folder, split or feature file is reported
    before a trainer is built; :attr:`dims` are the data dimensions a model is built for.
    """

    def __init__(
        self,
        root: str | Path,
        train_split: str = "train",
        val_split: str = "val",
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        max_video_len: int | None = None,
        max_query_len: int | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.lengths = {"max_video_len": max_video_len, "max_query_len": max_query_len}
        self.train_set = nonempty(VTGDataset(self.root, train_split, **self.lengths))
        self.val_set = self.open_split(val_split)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def open_split(self, split: str, require_labels: bool = True) -> VTGDataset:
        """Another split of the folder; a :class:`UserError` when it has no query or other dims than the
        train split."""
        dataset = nonempty(VTGDataset(self.root, split, require_labels=require_labels, **self.lengths))
        dataset.check_same_dims(self.train_set)
        return dataset

    @property
    def dims(self) -> dict[str, int]:
        """``{video_dim, text_dim, video_levels, text_levels}``."""
        return self.train_set.dims

    @cached_property
    def val_ground_truth(self) -> list[dict[str, Any]]:
        """The validation split's annotation lines, as the metrics read them."""
        return [annotation_to_record(annotation) for annotation in self.val_set.annotations]

    def _loader(self, dataset: VTGDataset, shuffle: bool) -> DataLoader:
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=self.seed)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # each iterator draws a seed (for its workers) from this generator rather than from torch's global
            # one, whose state EpochSeed sets for the model's randomness alone
            generator=torch.Generator().manual_seed(self.seed),
        )

    def transfer_batch_to_device(self, batch: dict[str, Any], device: torch.device, dataloader_idx: int) -> dict:
        return move_batch(batch, device)

    # whether epoch_train_set varies with the epoch: the trainer then asks for a new loader every epoch
    train_set_varies = False

    def epoch_train_set(self, epoch: int) -> VTGDataset:
        """The queries training epoch ``epoch`` reads: the train split (a subclass may vary it by epoch)."""
        return self.train_set

    def optimizer_steps(self, epoch: int, trainer: L.Trainer) -> int:
        """Optimizer steps of training epoch ``epoch`` under ``trainer``'s batch limit and accumulation."""
        batches = len(self._loader(self.epoch_train_set(epoch), shuffle=True))
        limit = trainer.limit_train_batches
        batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
        return max(1, math.ceil(batches / trainer.accumulate_grad_batches))

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return self._loader(self.epoch_train_set(epoch), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)
