"""Energy beside the arithmetic: 45 nm with SRAM reads and Loihi's per-operation energies (energy/neuromorphic.py)."""

from __future__ import annotations

import numpy as np
import pytest

from energy.activity import Component, make_record
from energy.float_work import FloatShape, float_macs
from energy.measured import measure
from energy.neuromorphic import LOIHI, counts, estimates, is_alias, teacher_mj
from energy.ops import HOROWITZ, PAPER
from energy.report import build_report, markdown
from energy.sweep import TcPoint, mean_rates

SHAPE = FloatShape(hidden=8, video_dim=6, text_dim=5, layers=2, heads=2, softmax=False, layernorm=False)


def record():
    components = {
        "layer0.input": Component(np.array([4.0, 2.0]), 10, 24),  # the input neurons: their own population
        "layer0.k": Component(np.array([1.0, 3.0]), 10, 5),
        "layer0.out": Component(np.array([2.0, 2.0]), 10, 0),  # counted where consumed
        "layer1.input": Component(np.array([2.0, 2.0]), 10, 24),  # layer0.out's spikes: no updates of its own
        "decoder.input": Component(np.array([1.0, 1.0]), 6, 9),
    }
    return make_record(components, [3], [2], "test")


def test_horowitz_table_holds_its_sram_reads_and_the_paper_kinds_stay():
    ops = HOROWITZ.ops_pj
    assert (ops["sram_8kb_read_64b"], ops["sram_32kb_read_64b"], ops["sram_1mb_read_64b"]) == (10.0, 20.0, 100.0)
    assert {k: ops[k] for k in ("fp_mac", "fp_acc", "int_acc")} == PAPER.ops_pj
    assert LOIHI.ops_pj == {"synaptic_op": 23.6, "neuron_update": 81.0, "spike_message": 1.7}  # Davies 2018, Table 2


def test_counts_do_not_update_a_population_twice():
    assert [is_alias(n) for n in ("layer0.input", "layer1.input", "decoder.input", "sfg", "layer1.k")] == [
        False,
        True,
        True,
        True,
        False,
    ]
    c = counts(record())
    assert c["layer0.input"].syn_ops == 6 * 24 and c["layer0.input"].updates == 20 and c["layer0.input"].spikes == 6
    assert c["layer1.input"].updates == 0 and c["layer1.input"].syn_ops == 4 * 24
    assert c["layer0.out"].updates == 20 and c["layer0.out"].spikes == 0  # its messages counted at its consumer


def test_decoder_neurons_are_updated_only_on_the_steps_they_read():
    components = {**record().components, "decoder.f.0": Component(np.array([0.0, 0.0, 3.0, 1.0]), 12, 3)}
    components = {name: Component(np.resize(c.spikes, 4), c.neurons, c.fan_out) for name, c in components.items()}
    warm = counts(make_record(components, [3], [2], "test", decoder_read_steps=2))  # Tc 4, a warm-up of 2
    assert warm["decoder.f.0"].updates == 12 * 2 and warm["layer0.k"].updates == 10 * 4
    assert counts(make_record(components, [3], [2], "test"))["decoder.f.0"].updates == 12 * 4


def test_estimates_by_hand_and_arithmetic_equal_to_the_measured_energy():
    r = record()
    result = estimates([r], SHAPE, PAPER, "int_acc")
    measured = measure(r, SHAPE, PAPER, "int_acc")
    assert result["arithmetic"]["total_mj"] == pytest.approx(measured.total_mj)
    assert result["arithmetic"]["components_mj"] == pytest.approx(measured.components_mj)
    # layer0.k: 4 spikes x fan-out 5 = 20 synaptic ops, 10 neurons x 2 steps = 20 updates, 4 messages
    # a k spike adds q (an activation at the state's 24 bits), not a 1-bit weight
    k_sram = 20 * 0.1 + 20.0 * (20 * 24 / 64 + 20 * 2 * 24 / 64)  # int_acc + operand reads + state r/w
    assert result["sram"]["components_mj"]["layer0.k"] == pytest.approx(k_sram * 1e-9)
    # the input neurons' spikes read 1-bit weights: 6 spikes x 24 = 144 ops, 20 updates
    input_sram = 144 * 0.1 + 20.0 * (144 * 1 / 64 + 20 * 2 * 24 / 64)
    assert result["sram"]["components_mj"]["layer0.input"] == pytest.approx(input_sram * 1e-9)
    assert result["loihi"]["components_mj"]["layer0.k"] == pytest.approx((20 * 23.6 + 20 * 81 + 4 * 1.7) * 1e-9)
    macs = sum(float_macs(r, SHAPE).values())
    assert result["sram"]["float_mj"] == result["loihi"]["float_mj"] == pytest.approx(macs * (4.6 + 10) * 1e-9)
    for estimate in ("sram", "loihi"):
        assert result[estimate]["total_mj"] > result["arithmetic"]["total_mj"]
    assert result["counts"]["layer0.k"] == {"syn_ops": 20.0, "updates": 20.0, "spikes": 4.0}


def test_a_user_tables_sram_price_is_used():
    """A table that prices the 32 KB read itself is used for it; one without (the paper's) falls back to Horowitz's."""
    import dataclasses

    dear = dataclasses.replace(PAPER, ops_pj={**PAPER.ops_pj, "sram_32kb_read_64b": 1000.0})
    k_sram = 20 * 0.1 + 1000.0 * (20 * 24 / 64 + 20 * 2 * 24 / 64)  # as in the test above, at 1000 pJ a read
    assert estimates([record()], SHAPE, dear, "int_acc")["sram"]["components_mj"]["layer0.k"] == pytest.approx(
        k_sram * 1e-9
    )
    assert teacher_mj(64.0, dear)["sram"] == pytest.approx((64 * 4.6 + 1000.0 * 64 * 32 / 64) * 1e-9)


def test_float_weights_read_32_bits_and_teachers_have_no_loihi_estimate():
    one_bit = estimates([record()], SHAPE, PAPER, "int_acc")["sram"]["components_mj"]["layer0.k"]
    float_nf = estimates([record()], SHAPE, PAPER, "fp_acc")["sram"]["components_mj"]["layer0.k"]
    assert float_nf == pytest.approx((20 * 0.9 + 20 * (20 * 32 / 64 + 20 * 2 * 32 / 64)) * 1e-9) and float_nf > one_bit
    assert teacher_mj(1e6, PAPER) == pytest.approx({"arithmetic": 4.6e-3, "sram": 14.6e-3, "loihi": None})


def test_report_shows_both_estimates_side_by_side():
    points = []
    for tc in (1, 2):
        r = record()
        points.append(
            TcPoint(tc, {"m": 1.0}, measure(r, SHAPE, PAPER, "int_acc"), {}, estimates([r], SHAPE, PAPER, "int_acc"))
        )
    reference = {"kind": "teacher", "name": "univtg", "total_mj": 0.01, "metrics": {"m": 2.0}}
    reference["estimates_mj"] = teacher_mj(0.01 / 4.6e-9, PAPER)
    report = build_report(
        points, reference, 0.002, PAPER, "int_acc", {"checkpoint": "s"}, {"root": "d", "split": "val", "queries": 1}
    )
    assert report["points"][0]["estimates"]["arithmetic"]["total_mj"] == pytest.approx(
        report["points"][0]["energy"]["total_mj"]
    )
    text = markdown(report, [])
    assert "## Arithmetic only and with memory" in text
    assert "| model | arithmetic only mJ | 45 nm + SRAM mJ | Loihi mJ |" in text
    assert "| univtg | 0.01 | 0.03174 | - |" in text and "| student, Tc = 2 |" in text
    assert "| layer0.k |" in text.split("per component")[1] and "| floating-point work |" in text


def test_decoder_rates_are_per_step_they_read():
    """A decoder at rest through its warm-up is not silent: its IFR counts the steps it runs, as its updates do."""
    components = {
        "layer0.k": Component(np.array([2.0, 2.0, 2.0, 2.0]), 10, 5),
        "decoder.f.0": Component(np.array([0.0, 0.0, 6.0, 3.0]), 12, 3),
    }
    rates = mean_rates([make_record(components, [3], [2], "test", decoder_read_steps=2)])
    assert rates == pytest.approx({"layer0.k": 8 / 40, "decoder.f.0": 9 / 24})
