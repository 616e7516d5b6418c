"""The learning-rate factor: linear warm-up, then constant, cosine or step decay, restarted at every stage; the
``train:`` fields of the schedule and their one-line errors."""

from __future__ import annotations

import pytest

from vtg.engine.schedule import lr_factor, schedule_factor, staged_lr_factor
from vtg.engine.train_config import TrainConfig
from vtg.errors import UserError


def test_warmup_rises_linearly_to_one():
    factors = [lr_factor(step, 3, 10, "cosine", 0.0) for step in range(4)]
    assert factors == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_cosine_falls_from_one_to_the_floor_and_stays():
    factors = [lr_factor(step, 0, 4, "cosine", 0.1) for step in range(6)]
    assert factors[0] == 1.0
    assert factors[2] == pytest.approx(0.1 + 0.9 * 0.5)  # half way
    assert factors[4] == factors[5] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(factors[:4], factors[1:5]))


def test_constant_after_warmup():
    assert [lr_factor(step, 2, 100, "constant", 0.0) for step in (0, 1, 2, 50, 99)] == pytest.approx(
        [1 / 3, 2 / 3, 1.0, 1.0, 1.0]
    )


def test_every_stage_warms_up_and_decays_over_its_own_steps():
    stages = (4, 6)
    factors = [staged_lr_factor(step, stages, 1, "cosine", 0.1) for step in range(12)]
    assert factors[:4] == pytest.approx([lr_factor(step, 1, 4, "cosine", 0.1) for step in range(4)])
    assert factors[4:] == pytest.approx([lr_factor(step, 1, 6, "cosine", 0.1) for step in range(8)])
    assert factors[4] == pytest.approx(0.5)  # the second stage starts with its own warm-up
    assert [staged_lr_factor(step, (9,), 2, "cosine", 0.0) for step in range(11)] == pytest.approx(
        [lr_factor(step, 2, 9, "cosine", 0.0) for step in range(11)]
    )


def test_step_decay_multiplies_by_the_factor_every_decay_steps_after_warm_up():
    factors = [lr_factor(step, 2, 100, "step", 0.0, decay_steps=4, decay_factor=0.1) for step in range(13)]
    # warm-up over steps 0-1, then 1 until step 4, 0.1 from step 4, 0.01 from step 8, 0.001 from step 12
    assert factors == pytest.approx([1 / 3, 2 / 3, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01, 0.001])
    with pytest.raises(ValueError):
        lr_factor(5, 0, 10, "step", 0.0, decay_steps=0, decay_factor=0.1)


def test_table_a_schedule_decays_every_k_epochs_of_the_run():
    # SDST's Table A at demo size: 50 steps an epoch, 60 epochs, 300 warm-up steps, x0.1 every 20 epochs
    train = TrainConfig.from_sections(
        {"epochs": 60, "schedule": "step", "warmup_steps": 300, "lr_decay_epochs": 20, "lr_decay_factor": 0.1}, {}
    )
    factor = schedule_factor(train, (60 * 50,))
    assert factor(0) == pytest.approx(1 / 301) and factor(299) == pytest.approx(300 / 301)
    assert factor(300) == factor(999) == 1.0
    assert factor(1000) == pytest.approx(0.1) and factor(1999) == pytest.approx(0.1)
    assert factor(2000) == pytest.approx(0.01) and factor(2999) == pytest.approx(0.01)
    # each stage of a staged run decays from its own start
    staged = schedule_factor(train, (1000, 2000))
    assert staged(999) == 1.0 and staged(1000) == pytest.approx(1 / 301)
    assert staged(1999) == 1.0 and staged(2000) == pytest.approx(0.1)


def test_other_schedules_ignore_the_decay_fields():
    section = {"epochs": 4, "schedule": "cosine", "min_lr_ratio": 0.1, "lr_decay_factor": 0.5}
    train = TrainConfig.from_sections(section, {})
    factor = schedule_factor(train, (40,))
    assert [factor(s) for s in range(41)] == pytest.approx([lr_factor(s, 0, 40, "cosine", 0.1) for s in range(41)])


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ({"schedule": "step"}, "cfg.yaml: field 'train.lr_decay_epochs': schedule: step"),
        ({"schedule": "cosine", "lr_decay_epochs": 20}, "cfg.yaml: field 'train.lr_decay_epochs': only schedule: step"),
        ({"schedule": "step", "lr_decay_epochs": -1}, "cfg.yaml: field 'train.lr_decay_epochs': expected an integer"),
        ({"schedule": "step", "lr_decay_epochs": 2.5}, "cfg.yaml: field 'train.lr_decay_epochs': expected an integer"),
        ({"schedule": "step", "lr_decay_epochs": 2, "lr_decay_factor": 0}, "cfg.yaml: field 'train.lr_decay_factor'"),
        ({"schedule": "step", "lr_decay_epochs": 2, "lr_decay_factor": 1.5}, "cfg.yaml: field 'train.lr_decay_factor'"),
        ({"schedule": "steps"}, "cfg.yaml: field 'train.schedule': expected one of constant, cosine, step"),
    ],
)
def test_schedule_mistakes_name_their_field(section, where):
    with pytest.raises(UserError) as error:
        TrainConfig.from_sections(section, {}, source="cfg.yaml")
    assert str(error.value).startswith(where) and "\n" not in str(error.value)
