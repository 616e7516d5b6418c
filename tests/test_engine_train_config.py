"""The ``train:`` section: defaults, command-line overrides, and errors naming file and field."""

from __future__ import annotations

import pytest
import torch

from vtg.engine.train_config import TrainConfig
from vtg.engine.trainer import float32_matmul_precision
from vtg.errors import UserError


def test_section_then_overrides():
    config = TrainConfig.from_sections({"lr": 1, "epochs": 3, "limit_train_batches": 0.5}, {"epochs": 5, "lr": None})
    assert config.lr == 1.0 and isinstance(config.lr, float)
    assert config.epochs == 5 and config.limit_train_batches == 0.5 and config.batch_size == TrainConfig.batch_size
    assert TrainConfig.from_sections(None, {}).to_dict() == TrainConfig().to_dict()


@pytest.mark.parametrize(
    ("section", "overrides", "where"),
    [
        ({"epochs": 0}, {}, "cfg.yaml: field 'train.epochs'"),
        ({"epochs": 2.5}, {}, "cfg.yaml: field 'train.epochs'"),
        ({"deterministic": "yes"}, {}, "cfg.yaml: field 'train.deterministic'"),
        ({"lr": float("nan")}, {}, "cfg.yaml: field 'train.lr'"),
        ({"min_lr_ratio": 2}, {}, "cfg.yaml: field 'train.min_lr_ratio'"),
        ({"limit_val_batches": 1.5}, {}, "cfg.yaml: field 'train.limit_val_batches'"),
        ({"monitor_mode": "up"}, {}, "cfg.yaml: field 'train.monitor_mode'"),
        ({"matmul_precision": "tf32"}, {}, "cfg.yaml: field 'train.matmul_precision'"),
        ({"max_video_len": 0}, {}, "cfg.yaml: field 'train.max_video_len'"),
        ({}, {"batch_size": 0}, "option --batch-size"),
        ({}, {"lr": 0.0}, "option --lr"),
        ([1, 2], {}, "cfg.yaml: field 'train'"),
    ],
)
def test_mistakes_name_their_place(section, overrides, where):
    with pytest.raises(UserError) as error:
        TrainConfig.from_sections(section, overrides, source="cfg.yaml")
    assert str(error.value).startswith(where)


def test_matmul_precision_holds_inside_training_only():
    before = torch.get_float32_matmul_precision()
    with float32_matmul_precision("high"):
        assert torch.get_float32_matmul_precision() == "high"
    assert torch.get_float32_matmul_precision() == before
    assert TrainConfig.from_sections({"matmul_precision": "medium"}, {}).matmul_precision == "medium"


@pytest.mark.parametrize(
    ("model", "noted"),
    [
        ({"grad": "bptt", "solver_iters": 0, "train_readout": "simulated"}, {"solver_iters", "train_readout"}),
        ({"grad": "implicit", "surrogate_alpha": 3.0}, {"surrogate_alpha"}),
        ({"solver_iters": 0, "solver": "fixed_point", "solver_tol": 1e-4}, {"solver"}),  # tol at its default
        ({"grad": "bptt", "surrogate_alpha": 3.0, "solver_iters": 30}, set()),  # both as they are used
        ({"sfg": False, "solver_iters": 0}, {"solver_iters"}),  # without SFG the map's Jacobian is 0
    ],
)
def test_a_model_field_that_changes_nothing_is_noted(model, noted, capsys):
    """vtg train and vtg distill say which fields set away from their defaults have no effect (one line each)."""
    from vtg.engine.model_config import model_section

    name, section = model_section({"model": {"name": "spikingvtg", **model}}, None, "c.yaml")
    assert (name, section) == ("spikingvtg", model)
    lines = capsys.readouterr().err.splitlines()
    assert {line.split("'model.")[1].split("'")[0] for line in lines} == noted
    assert all(line.startswith("note: c.yaml: field 'model.") and "has no effect" in line for line in lines)
