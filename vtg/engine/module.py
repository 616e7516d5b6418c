"""The LightningModule around any registered model (docs/ARCHITECTURE.md, "Model interface").

Training minimises ``model.loss(model(batch), batch)["total"]`` and logs every loss term as
``train/<term>``; validation logs ``val/<term>``, collects ``model.predict(batch, outputs)`` and, at the
end of the epoch, scores the predictions of all processes with the official metrics (``MR-full-mAP``,
``HL-min-VeryGood-Hit1``, ...), logged under their official names. The optimizer is AdamW with a
warm-up and constant, cosine or step schedule stepped every optimizer step, restarted at each stage of a run
with stages (:mod:`vtg.engine.schedule`; ``vtg distill``'s CLRM and task stages).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.distributed as dist

from vtg.checkpoint import METADATA_KEY, checkpoint_metadata
from vtg.engine.schedule import schedule_factor
from vtg.engine.train_config import TrainConfig
from vtg.errors import UserError
from vtg.evaluation import score_predictions
from vtg.models import build_model


def gather_predictions(predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every process's predictions, on every process, once per query.

    Under DDP each process scored a shard of the split, and ``DistributedSampler`` pads the last shard
    with repeated queries so that all shards have the same size: the repeats are dropped by ``qid``.
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        shards: list[list[dict[str, Any]] | None] = [None] * dist.get_world_size()
        dist.all_gather_object(shards, predictions)
        predictions = [prediction for shard in shards for prediction in shard or []]
    unique: dict[Any, dict[str, Any]] = {}
    for prediction in predictions:
        unique.setdefault(prediction["qid"], prediction)
    return list(unique.values())


class VTGModule(L.LightningModule):
    """Trains and validates ``build_model(model_name, model_config, dims)``.

    Args:
        model_name: registry name (``spikingvtg``, ``sdst``, ``univtg``).
        model_config: the ``model:`` section without ``name``.
        dims: ``{video_dim, text_dim, video_levels, text_levels}`` of the data.
        train: the ``train:`` section.
        config_source: what the config came from (the YAML file), to name it in errors.

    ``val_metrics`` holds the metrics of the last validation; they go into every checkpoint.
    """

    def __init__(
        self,
        model_name: str,
        model_config: dict[str, Any],
        dims: dict[str, int],
        train: TrainConfig,
        config_source: str = "config",
        splits: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.splits = splits  # the data splits the run reads, kept in its checkpoints (a resume must not change them)
        self.model_name = model_name
        self.model_config = dict(model_config)
        self.dims = dict(dims)
        self.train_config = train
        self.config_source = config_source
        self.model = build_model(model_name, self.model_config, self.dims)
        self.val_metrics: dict[str, float] = {}
        self._val_predictions: list[dict[str, Any]] = []
        self._val_terms: set[str] = set()  # the val/<term> names logged this validation epoch

    def _log_losses(self, losses: dict[str, Any], stage: str, batch_size: int) -> torch.Tensor:
        """Log every term as ``stage/term`` (averaged over the epoch and the processes); return ``total``."""
        if "total" not in losses:
            raise KeyError(f"model '{self.model_name}': loss() must return a dict with 'total'")
        values = {f"{stage}/{name}": torch.as_tensor(value).detach().float() for name, value in losses.items()}
        if stage == "val":
            self._val_terms.update(values)
        self.log_dict(values, on_step=False, on_epoch=True, sync_dist=True, batch_size=batch_size)
        return losses["total"]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        outputs = self.model(batch)
        total = self._log_losses(self.model.loss(outputs, batch), "train", len(batch["meta"]))
        if not torch.isfinite(total):
            raise UserError(
                f"{self.config_source}: field 'train.lr': the loss became {total.item()} at epoch "
                f"{self.current_epoch}, step {self.global_step} (try a lower lr, a warm-up or grad_clip)"
            )
        self.log("loss", total.detach(), prog_bar=True, on_step=True, on_epoch=False, batch_size=len(batch["meta"]))
        return total

    def on_validation_epoch_start(self) -> None:
        self._val_predictions = []
        self._val_terms = set()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        outputs = self.model(batch)
        self._log_losses(self.model.loss(outputs, batch), "val", len(batch["meta"]))
        self._val_predictions.extend(self.model.predict(batch, outputs))

    def on_validation_epoch_end(self) -> None:
        predictions = gather_predictions(self._val_predictions)
        self._val_predictions = []
        data = self.trainer.datamodule
        metrics = score_predictions(predictions, data.val_ground_truth, data.val_set.config.clip_len)
        monitor = self.train_config.monitor
        if not monitor.startswith("val/") and monitor not in metrics:
            raise UserError(
                f"{self.config_source}: field 'train.monitor': {monitor!r} is not a val metric "
                f"(choose from {', '.join(metrics)}, or a val/<loss term>)"
            )
        if monitor.startswith("val/") and monitor not in self._val_terms:
            # the loss terms are the model's, known once it has been validated: at the first epoch's end, before
            # Lightning's checkpoint callback looks for the monitor (and fails with a traceback)
            raise UserError(
                f"{self.config_source}: field 'train.monitor': {monitor!r} is not a val loss term of this model "
                f"(choose from {', '.join(sorted(self._val_terms))}, or a val metric)"
            )
        # every process holds the same gathered metrics: their mean over processes is a no-op, but it tells
        # Lightning that the value is global (it warns about unsynchronised epoch values otherwise)
        self.log_dict(metrics, on_step=False, on_epoch=True, sync_dist=True)
        self.val_metrics = metrics

    def stage_steps(self) -> tuple[int, ...]:
        """Optimizer steps of each stage of the run, for the schedule: one stage, Lightning's estimate."""
        return (int(self.trainer.estimated_stepping_batches),)

    def configure_optimizers(self) -> dict[str, Any]:
        train = self.train_config
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=train.lr, weight_decay=train.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_factor(train, self.stage_steps()))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[METADATA_KEY] = checkpoint_metadata(
            self.model_name, self.model_config, self.dims, self.train_config.to_dict(), self.val_metrics, self.splits
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.val_metrics = dict(checkpoint[METADATA_KEY]["metrics"])
