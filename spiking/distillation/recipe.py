"""The CLRM transfer recipe: a frozen teacher, a SpikingVTG student, and the training engine (paper Sec. 4.5.1).

The recipe is a model that follows the model interface of docs/ARCHITECTURE.md, so the engine
(Lightning, checkpoints, resume, progress, metrics) trains it as it trains any model:

* :class:`DistillationModel` holds the student (any variant: base, NF, 1-bit NF), the teacher (SDST or
  the UniVTG-style one, frozen: eval mode, no gradient, whatever mode the engine sets) and the CLRM
  loss with its projections W_d. ``forward`` runs both with ``return_hidden=True`` (the teacher under
  ``no_grad``); ``loss`` is the weighted sum below; ``predict`` is the student's.
* The schedule, per epoch e (0-based), with E_c = ``clrm_epochs``::

      e <  E_c (CLRM stage):  total = L_CLRM + clrm_stage_task_weight * L_task + prediction_weight * L_pred
      e >= E_c (task stage):  total = L_task + task_stage_clrm_weight * L_CLRM + prediction_weight * L_pred

  ``clrm_epochs: 0`` with ``task_stage_clrm_weight > 0`` is joint training from the start; the
  defaults (a CLRM stage, then task training) follow SpikingBERT's two stages (paper ref. [26]). When
  the task's weight is 0 its terms are not computed at all.
* ``prediction_weight`` (default 0): L_pred, TinyBERT's prediction-layer distillation (Jiao et al., 2020;
  SpikingBERT, ref. [26], distils its predictions too) for a clip-wise teacher (the UniVTG-style one): the
  student's own task loss (vtg/losses/clipwise.py) with the teacher's predictions in place of labels, i.e.
  foreground f* = [sigmoid(f_teacher) > 1/2], boundary offsets d* = d_teacher, and the clips' ranking
  labels from f* (the rule for queries without saliency annotation). CLRM matches representations only;
  on a transfer split without labels, L_pred is what carries the teacher's boundary regression over.
* ``transfer_split: NAME`` (:mod:`spiking.distillation.transfer_data`): the CLRM stage's epochs read split NAME, whose
  queries need no labels (SpikingBERT's general distillation, on data the teacher can read but nobody
  labelled), so its task weight must be 0; the task stage reads the train split.
* With both stages, each has its own learning-rate schedule (warm-up and decay over its own optimizer
  steps: :func:`vtg.engine.schedule.staged_lr_factor`), as two separate runs would.
* :class:`DistillModule` is the engine's :class:`~vtg.engine.module.VTGModule` with that model; it tells
  the model the epoch, gives the schedule the stages' steps and adds the recipe to the checkpoints' metadata.

Checkpoints: ``OUT/last.ckpt`` and ``OUT/best.ckpt`` hold the whole recipe (student under ``model.student.``,
projections under ``model.clrm.``, the frozen teacher under ``model.teacher.``) for ``--resume``. At the
end of a run :func:`write_student_checkpoint` writes ``OUT/student.ckpt`` from ``last.ckpt``: the student
alone in the engine's format (model ``spikingvtg``), which ``load_model``, ``vtg predict``, ``vtg info``,
``vtg-export`` and ``vtg energy`` read like any SpikingVTG checkpoint.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from spiking.distillation.clrm import CLRMConfig, CLRMLoss, resolve_layer_map
from spiking.distillation.transfer_data import TransferDataModule
from vtg.checkpoint import (
    DISTILL_RUN_PREFIX,
    METADATA_KEY,
    MODEL_PREFIX,
    atomic_save,
    check_dims,
    checkpoint_metadata,
    load_model,
    read_checkpoint,
)
from vtg.engine.datamodule import VTGDataModule
from vtg.engine.module import VTGModule
from vtg.engine.train_config import TrainConfig
from vtg.engine.trainer import TrainRun, check_resumable, fit_module, open_data
from vtg.errors import UserError, check_number

TEACHERS = ("sdst", "univtg")
CLIPWISE_TEACHERS = ("univtg",)  # whose predictions are the student's kind: f, d, s per clip (L_pred)
STUDENT = "spikingvtg"
STUDENT_CHECKPOINT = "student.ckpt"
DISTILL_KEY = "distill"  # the recipe's entry in checkpoint["vtg"]


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """The ``distill:`` section: the CLRM loss (:class:`~spiking.distillation.clrm.CLRMConfig`) and the schedule."""

    clrm: CLRMConfig = CLRMConfig()
    clrm_epochs: int = 3
    clrm_stage_task_weight: float = 0.0
    task_stage_clrm_weight: float = 0.0
    prediction_weight: float = 0.0  # L_pred, the teacher's predictions as labels (module docstring)
    transfer_split: str | None = None  # the CLRM stage's split (transfer_data.py); None: the train split

    @classmethod
    def from_dict(cls, section: Any, source: str, epochs: int) -> DistillConfig:
        """Check the section of config file ``source`` (unknown fields are errors) for a run of ``epochs``."""
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise UserError(f"{source}: field 'distill': expected a mapping, got {type(section).__name__}")
        schedule = (
            "clrm_epochs",
            "clrm_stage_task_weight",
            "task_stage_clrm_weight",
            "prediction_weight",
            "transfer_split",
        )
        known = schedule + tuple(f.name for f in dataclasses.fields(CLRMConfig))
        for key in section:
            if key not in known:
                raise UserError(f"{source}: field 'distill.{key}': unknown option (choose from {', '.join(known)})")
        clrm_epochs = section.get("clrm_epochs", cls.clrm_epochs)
        if isinstance(clrm_epochs, bool) or not isinstance(clrm_epochs, int) or not 0 <= clrm_epochs <= epochs:
            raise UserError(
                f"{source}: field 'distill.clrm_epochs': expected an integer in 0..{epochs} (train.epochs), "
                f"got {clrm_epochs!r}"
            )
        weights = {}
        for name in schedule[1:4]:
            weights[name] = check_number(section.get(name, getattr(cls, name)), f"{source}: field 'distill.{name}'")
            if weights[name] < 0:
                raise UserError(f"{source}: field 'distill.{name}': must be >= 0, got {weights[name]}")
        transfer_split = section.get("transfer_split")
        if transfer_split is not None:
            if not isinstance(transfer_split, str) or not transfer_split:
                raise UserError(
                    f"{source}: field 'distill.transfer_split': expected a split name, got {transfer_split!r}"
                )
            if clrm_epochs == 0:
                raise UserError(f"{source}: field 'distill.transfer_split': needs a CLRM stage (clrm_epochs >= 1)")
            if weights["clrm_stage_task_weight"] != 0:
                raise UserError(
                    f"{source}: field 'distill.clrm_stage_task_weight': must be 0 with a transfer split "
                    "(its queries carry no labels for the task loss)"
                )
        return cls(
            clrm=CLRMConfig.from_dict(section, source),
            clrm_epochs=clrm_epochs,
            transfer_split=transfer_split,
            **weights,
        )

    def weights(self, epoch: int) -> tuple[float, float]:
        """``(clrm_weight, task_weight)`` of ``epoch`` (see the module docstring)."""
        if epoch < self.clrm_epochs:
            return 1.0, self.clrm_stage_task_weight
        return self.task_stage_clrm_weight, 1.0

    def to_dict(self) -> dict[str, Any]:
        """The section as written to ``config.yaml`` (a valid ``distill:`` section)."""
        flat = dataclasses.asdict(self)
        return {**flat.pop("clrm"), **flat}


def load_teacher(path: Path, data: Path, dims: dict[str, int]) -> tuple[nn.Module, dict[str, Any]]:
    """The frozen teacher of checkpoint ``path`` (SDST or UniVTG-style, trained on data of ``dims``)."""
    teacher, checkpoint = load_model(path)
    metadata = checkpoint[METADATA_KEY]
    if metadata["model_name"] not in TEACHERS:
        raise UserError(
            f"{path}: option --teacher: checkpoint of model '{metadata['model_name']}', not a teacher "
            f"(train one with vtg train --model {' or '.join(TEACHERS)})"
        )
    check_dims(path, metadata["dims"], data, dims)
    teacher.requires_grad_(False)
    return teacher.eval(), metadata


class DistillationModel(nn.Module):
    """Student + frozen teacher + CLRM, behind the model interface (forward / loss / predict)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, clrm: CLRMLoss, config: DistillConfig):
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.clrm = clrm
        self.config = config
        self.clrm_weight, self.task_weight = config.weights(0)

    def set_epoch(self, epoch: int) -> None:
        """Take the loss weights of ``epoch`` from the schedule."""
        self.clrm_weight, self.task_weight = self.config.weights(epoch)

    def train(self, mode: bool = True) -> DistillationModel:
        super().train(mode)
        self.teacher.eval()  # frozen: no dropout or drop-path, whatever the engine asks for
        return self

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The student's outputs (with hidden states and attentions) and, under ``teacher``, the teacher's
        (its clip-wise predictions too when L_pred is on)."""
        outputs = self.student(batch, return_hidden=True)
        with torch.no_grad():
            teacher = self.teacher(batch, return_hidden=True)
        kept = ("hidden_states", "attentions")
        if self.config.prediction_weight:
            kept += ("foreground_logits", "boundary")
        outputs["teacher"] = {name: teacher[name] for name in kept}
        return outputs

    def prediction_loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
        """L_pred: the student's task loss against the teacher's predictions (module docstring)."""
        teacher = outputs["teacher"]
        # the windows the teacher predicts: an imported UniVTG decodes its offsets from its own anchor
        boundary = self.teacher.window_boundary(batch, teacher).to(teacher["boundary"].dtype)  # (B, Lv, 2)
        foreground = (teacher["foreground_logits"].sigmoid() > 0.5).to(boundary.dtype)  # (B, Lv)
        pseudo = {
            **batch,
            "foreground": foreground,
            "boundary": boundary,  # (B, Lv, 2) clip units from the clip centres
            "saliency": torch.zeros_like(foreground),
            "saliency_valid": torch.zeros(len(foreground), dtype=torch.bool, device=foreground.device),  # rank by f*
        }
        return self.student.loss(outputs, pseudo)["total"]

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """``total`` of the schedule, the CLRM terms and, unless the task's weight is 0, the student's task
        terms and ``task`` (their total): a transfer split's batches have no labels to score."""
        clrm = self.clrm(outputs, outputs["teacher"], batch)
        total = self.clrm_weight * clrm["clrm"]
        extra: dict[str, torch.Tensor] = {}
        if self.config.prediction_weight:
            extra["prediction"] = self.prediction_loss(outputs, batch)
            total = total + self.config.prediction_weight * extra["prediction"]
        if self.task_weight == 0:
            return {"total": total, **clrm, **extra}
        task = self.student.loss(outputs, batch)
        total = total + self.task_weight * task["total"]
        terms = {name: value for name, value in task.items() if name != "total"}
        return {"total": total, "task": task["total"], **clrm, **extra, **terms}

    def predict(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, Any]]:
        return self.student.predict(batch, outputs)


def teacher_layout(teacher: nn.Module, batch: dict[str, Any]) -> tuple[int, int]:
    """``(number of layers, hidden size)`` of the teacher's ``hidden_states``, read off one batch."""
    with torch.no_grad():
        hidden = teacher(batch, return_hidden=True)["hidden_states"]  # per layer (B, L_t, d_t)
    return len(hidden), hidden[0].shape[-1]


class DistillModule(VTGModule):
    """The engine's LightningModule around :class:`DistillationModel` (student config as ``model_config``).

    Args:
        probe: one batch of the data, to read the teacher's layer count and width (W_d is d_s x d_t).
        distill_metadata: what the checkpoints record about the recipe (teacher, resolved layer map).
    """

    def __init__(
        self,
        student_config: dict[str, Any],
        dims: dict[str, int],
        train: TrainConfig,
        teacher: nn.Module,
        recipe: DistillConfig,
        probe: dict[str, Any],
        distill_metadata: dict[str, Any],
        config_source: str = "config",
        splits: dict[str, str] | None = None,
    ) -> None:
        super().__init__(STUDENT, student_config, dims, train, config_source, splits)  # builds the student first
        student = self.model
        num_teacher, teacher_dim = teacher_layout(teacher, probe)
        layer_map = resolve_layer_map(recipe.clrm.layer_map, student.config.num_layers, num_teacher, config_source)
        clrm = CLRMLoss(layer_map, student.config.hidden_dim, teacher_dim, recipe.clrm)
        self.model = DistillationModel(student, teacher, clrm, recipe)
        self.distill_metadata = {**distill_metadata, "layer_map": layer_map, "config": recipe.to_dict()}

    def on_train_epoch_start(self) -> None:
        self.model.set_epoch(self.current_epoch)

    def stage_steps(self) -> tuple[int, ...]:
        """The CLRM stage and the task stage each get a schedule of their own, as SpikingBERT's two runs do;
        with a transfer split their epochs also differ in length, which Lightning's estimate ignores."""
        clrm, epochs = self.model.config.clrm_epochs, self.trainer.max_epochs
        if not 0 < clrm < epochs:
            return super().stage_steps()
        data = self.trainer.datamodule
        return clrm * data.optimizer_steps(0, self.trainer), (epochs - clrm) * data.optimizer_steps(clrm, self.trainer)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[METADATA_KEY][DISTILL_KEY] = self.distill_metadata


def write_student_checkpoint(recipe_path: Path, out: Path) -> Path:
    """``out``: the student of the recipe checkpoint ``recipe_path`` alone, in the engine's format."""
    checkpoint = read_checkpoint(recipe_path)
    metadata = checkpoint[METADATA_KEY]
    prefix = DISTILL_RUN_PREFIX  # "model.student."
    state = {
        MODEL_PREFIX + key[len(prefix) :]: value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(prefix)
    }
    student = checkpoint_metadata(
        STUDENT, metadata["model_config"], metadata["dims"], metadata["train_config"], metadata["metrics"]
    )
    student[DISTILL_KEY] = {**metadata[DISTILL_KEY], "from_checkpoint": str(recipe_path)}
    atomic_save({"state_dict": state, METADATA_KEY: student}, out)
    return out


def check_recipe(
    resume: Path, metadata: dict[str, Any], teacher_metadata: dict[str, Any], recipe: DistillConfig, source: str
) -> None:
    """A :class:`UserError` when ``resume`` (its ``vtg`` entry: ``metadata``) is not a checkpoint of this recipe
    and teacher."""
    old = metadata.get(DISTILL_KEY)
    if old is None:
        raise UserError(f"{resume}: not a checkpoint of vtg distill (option --resume)")
    if old["config"] != recipe.to_dict():
        raise UserError(f"{source}: field 'distill': differs from checkpoint {resume} (a resumed run keeps its recipe)")
    if (
        old["teacher_model"] != teacher_metadata["model_name"]
        or old["teacher_config"] != teacher_metadata["model_config"]
    ):
        raise UserError(f"option --teacher: not the teacher checkpoint {resume} was trained with ({old['teacher']})")


def build_distill_module(
    run: TrainRun, data: VTGDataModule, teacher_path: Path, recipe: DistillConfig
) -> DistillModule:
    """The recipe's LightningModule: the teacher of ``teacher_path`` checked against ``data`` (and against
    ``run.resume``, when resuming), the student built as ``vtg train`` builds it with the same seed."""
    teacher, teacher_metadata = load_teacher(teacher_path, run.data, data.dims)
    if recipe.prediction_weight and teacher_metadata["model_name"] not in CLIPWISE_TEACHERS:
        raise UserError(
            f"{run.config_source}: field 'distill.prediction_weight': needs a clip-wise teacher "
            f"({', '.join(CLIPWISE_TEACHERS)}); {teacher_path} is '{teacher_metadata['model_name']}'"
        )
    if run.resume is not None:
        saved = read_checkpoint(run.resume)
        check_resumable(run, data.dims, saved)
        check_recipe(run.resume, saved[METADATA_KEY], teacher_metadata, recipe, run.config_source)
    probe = next(iter(data.val_dataloader()))
    # seeded after the teacher is built, so that the student starts from the weights a label-only run
    # (vtg train, same seed) starts from
    L.seed_everything(run.train.seed, workers=True, verbose=False)
    teacher_info = {
        "teacher": str(teacher_path),
        "teacher_model": teacher_metadata["model_name"],
        "teacher_config": teacher_metadata["model_config"],
    }
    return DistillModule(
        run.model_config, data.dims, run.train, teacher, recipe, probe, teacher_info, run.config_source, run.splits
    )


def fit_distillation(run: TrainRun, teacher_path: Path, section: Any) -> dict[str, Any]:
    """Train ``run``'s student with CLRM from the teacher of ``teacher_path`` through the engine
    (:func:`vtg.engine.trainer.fit_module`), write ``OUT/student.ckpt``; return the run's summary."""
    recipe = DistillConfig.from_dict(section, run.config_source, run.train.epochs)
    if recipe.transfer_split is not None:
        data = open_data(run, TransferDataModule, transfer_split=recipe.transfer_split, clrm_epochs=recipe.clrm_epochs)
    else:
        data = open_data(run)
    module = build_distill_module(run, data, teacher_path, recipe)
    config = {
        "teacher": str(teacher_path),
        "model": {"name": STUDENT, **run.model_config},
        "train": run.train.to_dict(),
        "distill": recipe.to_dict(),
    }
    extra = {"model": STUDENT, "teacher": str(teacher_path), "data": str(run.data)}
    with warnings.catch_warnings():
        # the frozen teacher is meant to be in eval mode during training
        warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode at the start of training.*")
        summary = fit_module(run, module, data, config, extra)
    student = run.out / STUDENT_CHECKPOINT
    if rank_zero_only.rank == 0:
        write_student_checkpoint(Path(summary["checkpoints"]["last"]), student)
    summary["checkpoints"]["student"] = str(student)
    layer_map = module.distill_metadata["layer_map"]
    return {**summary, "teacher": str(teacher_path), "layer_map": layer_map, "recipe": recipe.to_dict()}
