"""The learning-rate factor: linear warm-up, then constant or cosine decay, restarted at every stage."""

from __future__ import annotations

import pytest

from vtg.engine.schedule import lr_factor, staged_lr_factor


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
