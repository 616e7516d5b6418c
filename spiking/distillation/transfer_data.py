"""The data of a CLRM run with a transfer split: its CLRM stage on unlabelled queries, then the task.

SpikingBERT (the paper's ref. [26], whose two-stage recipe Sec. 4.5.1 follows) distils on general,
unlabelled data before the task's data: representation matching needs the teacher's states, not labels,
so every video and sentence the teacher can read is a training example for it. With
``distill.transfer_split: NAME`` the first ``clrm_epochs`` epochs draw their batches from split NAME of
the dataset folder (lines need no ``relevant_windows``; labels, when present, are not used), the later
epochs from the train split. The trainer asks for a new training loader every epoch
(:attr:`~vtg.engine.datamodule.VTGDataModule.train_set_varies`).
"""

from __future__ import annotations

from pathlib import Path

from vtg.data.dataset import VTGDataset
from vtg.engine.datamodule import VTGDataModule


class TransferDataModule(VTGDataModule):
    """:class:`VTGDataModule` whose training epochs before ``clrm_epochs`` draw from ``transfer_split``."""

    train_set_varies = True

    def __init__(self, root: str | Path, transfer_split: str, clrm_epochs: int, **options) -> None:
        super().__init__(root, **options)
        self.transfer_set = self.open_split(transfer_split, require_labels=False)
        self.clrm_epochs = clrm_epochs

    def epoch_train_set(self, epoch: int) -> VTGDataset:
        return self.transfer_set if epoch < self.clrm_epochs else self.train_set
