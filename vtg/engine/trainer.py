"""One training run: data, model, Lightning trainer, checkpoints and ``metrics.json`` in the output folder.

The output folder receives ``config.yaml`` (the ``model:`` and ``train:`` sections actually used, a valid
``--config`` for ``vtg train`` and ``vtg info``), ``last.ckpt`` (every epoch), ``best.ckpt`` (best
``train.monitor``) and ``metrics.json`` (see :mod:`vtg.engine.history`).

Multi-process training is PyTorch's DDP: under ``torchrun`` Lightning reads the process's rank and the
world size from the environment and the number of local processes becomes the default ``devices``; the
process group uses gloo on CPUs and NCCL on GPUs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.strategies import DDPStrategy

from vtg.atomic import atomic_write_text, remove_stale_temporaries
from vtg.checkpoint import METADATA_KEY, check_dims, is_distill_run, read_checkpoint
from vtg.config import dump_yaml
from vtg.engine.checkpoint import AtomicCheckpointIO, RunCheckpoint, saved_folder
from vtg.engine.datamodule import VTGDataModule
from vtg.engine.epoch_seed import EpochSeed
from vtg.engine.history import MetricsHistory
from vtg.engine.module import VTGModule
from vtg.engine.train_config import TrainConfig
from vtg.errors import UserError
from vtg.models import full_model_config
from vtg.threads import ThreadGovernor

LAST = "last.ckpt"
BEST = "best.ckpt"


@dataclasses.dataclass
class TrainRun:
    """What ``vtg train`` was asked to do (config and command line merged)."""

    model_name: str
    model_config: dict[str, Any]
    train: TrainConfig
    data: Path
    out: Path
    resume: Path | None = None
    accelerator: str = "auto"
    devices: int | None = None
    train_split: str = "train"
    val_split: str = "val"
    config_source: str = "config"  # the YAML file, named in errors about its fields

    @property
    def splits(self) -> dict[str, str]:
        """The data splits the run reads, as its checkpoints keep them."""
        return {"train": self.train_split, "val": self.val_split}


# train: fields a resumed run may change: how long it trains and how the machine runs it. The others shape the
# optimizer and schedule whose state Lightning restores from the checkpoint (a new lr would be recorded and not
# used) or the data the run sees.
RESUMABLE_TRAIN_FIELDS = (
    "epochs",
    "num_workers",
    "limit_val_batches",
    "deterministic",
    "precision",
    "matmul_precision",
    "find_unused_parameters",
)


def check_resumable(run: TrainRun, dims: dict[str, int], saved: dict[str, Any]) -> None:
    """A :class:`UserError` when ``run.resume``, read once by the caller as ``saved``, is not a training run's
    checkpoint of this model, config and data."""
    if "optimizer_states" not in saved or "loops" not in saved:
        raise UserError(
            f"option --resume: {run.resume} holds a model, not a training run's state (resume from a run's last.ckpt)"
        )
    metadata = saved[METADATA_KEY]
    if metadata["model_name"] != run.model_name:
        raise UserError(f"{run.resume}: checkpoint of model '{metadata['model_name']}', not '{run.model_name}'")
    check_dims(run.resume, metadata["dims"], run.data, dims)
    for kind, split in metadata.get("splits", {}).items():  # checkpoints before session 22 do not say
        if run.splits.get(kind) != split:
            raise UserError(
                f"option --{kind}-split: {run.splits.get(kind)!r} differs from {split!r} in checkpoint {run.resume} "
                "(a resumed run keeps the data it trains and validates on)"
            )
    try:
        old = full_model_config(run.model_name, metadata["model_config"])
    except UserError:  # a field of an older version of the model: compared as written
        old = metadata["model_config"]
    new = full_model_config(run.model_name, run.model_config)
    changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
    if changed:
        raise UserError(
            f"{run.config_source}: field 'model.{changed[0]}': {new.get(changed[0])!r} differs from "
            f"{old.get(changed[0])!r} in checkpoint {run.resume} (a resumed run keeps the model's config)"
        )
    old_train, new_train = metadata.get("train_config", {}), run.train.to_dict()
    changed = sorted(
        key for key in old_train if key not in RESUMABLE_TRAIN_FIELDS and old_train[key] != new_train.get(key)
    )
    if changed:
        raise UserError(
            f"{run.config_source}: field 'train.{changed[0]}': {new_train.get(changed[0])!r} differs from "
            f"{old_train[changed[0]]!r} in checkpoint {run.resume} (a resumed run keeps its recipe; only "
            f"{', '.join(RESUMABLE_TRAIN_FIELDS)} may change)"
        )
    folder = saved_folder(saved)
    if folder is not None and folder != os.path.realpath(run.out) and not (run.out / BEST).is_file():
        # best.ckpt's score comes with the checkpoint (RunCheckpoint), its file does not: without it the folder
        # would have a best score and no best.ckpt, and metrics.json would name an epoch it does not hold
        raise UserError(
            f"option --resume: {run.resume} is of the run in {folder}; resume it there, or copy that folder, "
            f"{BEST} included, to --out {run.out}"
        )


def distributed_layout(devices: int | None) -> tuple[int, int]:
    """``(devices, num_nodes)``: the given device count, else what ``torchrun`` launched, else 1.

    Only torchrun sets ``LOCAL_WORLD_SIZE``; Lightning's own launcher (``--devices N`` without torchrun)
    gives its child processes ``WORLD_SIZE`` alone, which must not be read as more nodes.
    """
    if "LOCAL_WORLD_SIZE" not in os.environ:
        return devices or 1, 1
    local = int(os.environ["LOCAL_WORLD_SIZE"])
    world = int(os.environ.get("WORLD_SIZE", str(local)))
    return (devices or local), max(1, world // local)


def batch_limit(value: int | float) -> int | float | None:
    """Lightning's batch limit; all batches as ``None`` rather than 1.0, which Lightning reports in a line."""
    return None if isinstance(value, float) and value == 1.0 else value


class FreeCoreThreads(L.Callback):
    """Polls a :class:`ThreadGovernor` before every training batch and says when the threads change."""

    def __init__(self, governor: ThreadGovernor) -> None:
        self.governor = governor

    def on_train_batch_start(self, trainer: L.Trainer, module: Any, batch: Any, batch_idx: int) -> None:
        before = torch.get_num_threads()
        threads = self.governor.poll()
        if threads != before:
            others = self.governor.changes[-1][2]
            print(
                f"vtg: intra-op threads {before} -> {threads} (other processes keep {others:.1f} of "
                f"{self.governor.cores} cores busy; set OMP_NUM_THREADS to fix them)",
                file=sys.stderr,
                flush=True,
            )


def build_trainer(run: TrainRun, history: MetricsHistory, reload_train_data: bool) -> L.Trainer:
    """The Lightning trainer of ``run`` with its callbacks and the atomic checkpoint plugin.

    ``reload_train_data``: ask the datamodule for a training loader every epoch (one whose training split
    changes between epochs: :attr:`VTGDataModule.train_set_varies`).
    """
    train = run.train
    devices, num_nodes = distributed_layout(run.devices)
    strategy: Any = "auto"
    if devices * num_nodes > 1:
        strategy = DDPStrategy(find_unused_parameters=train.find_unused_parameters)
    # save_on_train_epoch_end: after validation and after MetricsHistory, so a checkpoint holds its whole epoch;
    # no version counter: a new run in an old folder replaces best.ckpt instead of writing best-v1.ckpt
    common = {"dirpath": run.out, "save_top_k": 1, "save_on_train_epoch_end": True, "enable_version_counter": False}
    best = RunCheckpoint(filename=Path(BEST).stem, monitor=train.monitor, mode=train.monitor_mode, **common)
    # last.ckpt has a callback of its own: Lightning 2.6's save_last=True only writes it on epochs that
    # improved the monitored metric. It comes after `best`, so that it holds best's updated state.
    last = RunCheckpoint(filename=Path(LAST).stem, monitor=None, **common)
    callbacks: list[L.Callback] = [EpochSeed(train.seed), history, best, last]
    governor = ThreadGovernor.for_this_run() if devices * num_nodes == 1 else None
    if governor is not None:  # a shared machine's competing processes (vtg/threads.py)
        callbacks.append(FreeCoreThreads(governor))
    return L.Trainer(
        accelerator=run.accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        max_epochs=train.epochs,
        limit_train_batches=batch_limit(train.limit_train_batches),
        limit_val_batches=batch_limit(train.limit_val_batches),
        reload_dataloaders_every_n_epochs=1 if reload_train_data else 0,
        accumulate_grad_batches=train.accumulate_grad_batches,
        gradient_clip_val=train.grad_clip or None,
        precision=train.precision,
        # "warn": models with an op that has no deterministic kernel still run, with a warning
        deterministic="warn" if train.deterministic else None,
        # metrics of a couple of validation batches mean nothing, and the check would draw random numbers
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # VTGDataModule shards itself (see there)
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=False,
        default_root_dir=run.out,
    )


def open_data(run: TrainRun, datamodule: type[VTGDataModule] = VTGDataModule, **options: Any) -> VTGDataModule:
    """The train and validation splits of ``run.data`` (a missing folder, split or file is a UserError):
    a ``datamodule`` (:class:`VTGDataModule` or a subclass) built with ``run``'s settings and ``options``."""
    train = run.train
    return datamodule(
        run.data,
        train_split=run.train_split,
        val_split=run.val_split,
        batch_size=train.batch_size,
        num_workers=train.num_workers,
        seed=train.seed,
        max_video_len=train.max_video_len,
        max_query_len=train.max_query_len,
        **options,
    )


@contextlib.contextmanager
def float32_matmul_precision(name: str) -> Iterator[None]:
    """torch's float32 matrix-product precision ("highest", "high": TF32, "medium") inside the block only."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(name)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


@contextlib.contextmanager
def config_with_checkpoints(out: Path, config: dict[str, Any]) -> Iterator[None]:
    """``out/config.yaml`` written for the run, and put back as it was (or removed) when the run fails before
    it saves a checkpoint: a failed start leaves the folder as it found it, and its config.yaml keeps
    describing the checkpoints beside it."""
    path = out / "config.yaml"
    written_by_runs = [out / name for name in (LAST, BEST, "metrics.json")]

    def stamp() -> list[int | None]:  # metrics.json and best.ckpt are written before last.ckpt at an epoch's end
        return [file.stat().st_mtime_ns if file.is_file() else None for file in written_by_runs]

    previous, saved = (path.read_text(encoding="utf-8") if path.is_file() else None), stamp()
    atomic_write_text(path, dump_yaml(config))
    try:
        yield
    except BaseException:
        if stamp() == saved:  # nothing of this run is in the folder
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_text(path, previous)
        raise


def fit_module(
    run: TrainRun, module: VTGModule, data: VTGDataModule, config: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """Train ``module`` (a :class:`VTGModule` or a subclass) on ``data`` as ``run`` says; return the summary.

    ``config`` is written to ``OUT/config.yaml`` and ``extra`` into ``metrics.json``. The summary (on every
    process) holds ``out``, ``epochs``, ``final`` (last val metrics), ``best`` (the best epoch's entry),
    ``checkpoints`` (``last``, ``best``) and ``metrics_file``.
    """
    # a killed run's temporaries (.last.ckpt.<pid>.tmp, ...) go; those of a live process (another rank) stay
    remove_stale_temporaries(run.out)
    history = MetricsHistory(run.out / "metrics.json", run.train.monitor, run.train.monitor_mode, extra=extra)
    trainer = build_trainer(run, history, data.train_set_varies)
    written = config_with_checkpoints(run.out, config) if trainer.is_global_zero else contextlib.nullcontext()
    with written, warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        # the progress bar writes to stdout; --json keeps stdout for its one object
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*exists and is not empty.*")
        with float32_matmul_precision(run.train.matmul_precision):
            try:
                trainer.fit(module, datamodule=data, ckpt_path=run.resume)
            except MisconfigurationException as error:
                # a batch fraction of a split too small to give one batch: Lightning names its own argument
                match = re.search(r"`(limit_(?:train|val)_batches)", str(error))
                if match is None:
                    raise
                option = "--" + match[1].replace("_", "-")
                raise UserError(f"option {option} (train.{match[1]}): {str(error).splitlines()[0]}") from None
            except SystemExit:
                if not trainer.interrupted:
                    raise
                # Lightning answers Ctrl-C with exit status 1 and leaves Ctrl-C ignored; the command line's
                # answer is "interrupted" and 130 (vtg/cli.py), and a second Ctrl-C works again
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt from None
    best = run.out / BEST
    return {
        "out": str(run.out),
        "epochs": trainer.current_epoch,
        "final": module.val_metrics,
        "best": history.best(),
        "checkpoints": {"last": str(run.out / LAST), "best": str(best) if best.is_file() else None},
        "metrics_file": str(run.out / "metrics.json"),
    }


def fit(run: TrainRun) -> dict[str, Any]:
    """Train ``run``'s model (``vtg train``); return the summary of :func:`fit_module`."""
    L.seed_everything(run.train.seed, workers=True, verbose=False)
    data = open_data(run)
    if run.resume is not None:
        saved = read_checkpoint(run.resume)
        if is_distill_run(saved):
            raise UserError(
                f"option --resume: {run.resume} is a vtg distill run's checkpoint (resume it with vtg distill)"
            )
        check_resumable(run, data.dims, saved)
    module = VTGModule(run.model_name, run.model_config, data.dims, run.train, run.config_source, run.splits)
    config = {"model": {"name": run.model_name, **run.model_config}, "train": run.train.to_dict()}
    return fit_module(run, module, data, config, extra={"model": run.model_name, "data": str(run.data)})
