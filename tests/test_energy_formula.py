"""Op tables and the analytic formulas of SpikingVTG section 5.1 (vtg energy formula / table)."""

from __future__ import annotations

import json

import pytest

from energy.analytic import ann_layer_macs, formula, paper_terms, parse_ifr, spiking_accumulations
from energy.ops import HOROWITZ, PAPER, load_table
from vtg.cli import main
from vtg.errors import UserError

PAPER_IFR = "in=0.40,k=0.18,v=0.19,attn=0.03,int=0.09"


def test_paper_numbers_are_reproduced():
    result = formula(200, 1024, 4, 10, parse_ifr(PAPER_IFR), PAPER)
    assert round(result["ann_mj_per_layer"], 2) == 5.98
    assert round(result["ann_mj"], 1) == 23.9
    assert round(result["snn_mj_per_step_per_layer"], 3) == 0.032
    assert round(result["snn_mj_per_layer"], 2) == 0.32
    assert round(result["snn_mj"], 1) == 1.3  # Table 5, 1-bit (NF)-SpikingVTG
    assert result["efficiency"] == pytest.approx(result["ann_mj"] / result["snn_mj"])
    assert result["efficiency"] == pytest.approx(18.54, abs=0.01)


def test_hand_computed_configuration():
    # L = 10, D = 4: E_A = 6 L D^2 + L^2 D = 960 + 400 = 1360 MACs per layer
    rates = {"in": 0.5, "k": 0.25, "v": 1.0, "attn": 0.0, "int": 0.5}
    result = formula(10, 4, 2, 3, rates, PAPER, snn_op="fp_acc")
    assert ann_layer_macs(10, 4) == 1360
    assert result["ann_mj_per_layer"] == pytest.approx(1360 * 4.6e-9)
    assert result["ann_mj"] == pytest.approx(2 * 1360 * 4.6e-9)
    # E_St = 3*.5*160 + .25*160 + 1*100*4 + 0 + .5*160 = 240 + 40 + 400 + 80 = 760 accumulations
    assert result["snn_mj_per_step_per_layer"] == pytest.approx(760 * 0.9e-9)
    assert result["snn_mj_per_layer"] == pytest.approx(3 * 760 * 0.9e-9)
    assert result["snn_mj"] == pytest.approx(2 * 3 * 760 * 0.9e-9)
    assert result["efficiency"] == pytest.approx(1360 * 4.6 / (3 * 760 * 0.9))


def test_k_term_qk_uses_sequence_length_as_fan_out():
    rates = {"in": 0.0, "k": 0.25, "v": 0.0, "attn": 0.0, "int": 0.0}
    assert spiking_accumulations(paper_terms(10, 4, rates, "paper")) == pytest.approx(0.25 * 10 * 4 * 4)  # IFR LD^2
    assert spiking_accumulations(paper_terms(10, 4, rates, "qk")) == pytest.approx(0.25 * 10 * 10 * 4)  # IFR L^2 D


def test_zero_rates_give_no_efficiency_ratio():
    rates = dict.fromkeys(("in", "k", "v", "attn", "int"), 0.0)
    assert formula(10, 4, 1, 1, rates, PAPER)["efficiency"] is None


def test_horowitz_table_derives_macs_and_matches_the_paper():
    ops = HOROWITZ.ops_pj
    assert ops["fp32_mac"] == pytest.approx(3.7 + 0.9)
    assert ops["int8_mac"] == pytest.approx(0.2 + 0.03)
    assert ops["fp16_mac"] == pytest.approx(1.1 + 0.4)
    assert {k: ops[k] for k in ("fp_mac", "fp_acc", "int_acc")} == PAPER.ops_pj
    assert load_table("horowitz") is HOROWITZ


def test_user_table_from_yaml(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("name: mine\nops_pj: {fp_mac: 2.0, fp_acc: 0.5, int_acc: 0.05, int8_add: 0.03}\n")
    table = load_table(path)
    assert table.name == "mine" and table.ops_pj["fp_mac"] == 2.0
    result = formula(10, 4, 1, 1, dict.fromkeys(("in", "k", "v", "attn", "int"), 1.0), table)
    assert result["ann_mj_per_layer"] == pytest.approx(1360 * 2.0e-9)


def test_example_config_table_loads():
    table = load_table("configs/energy_int8_fp16.yaml")
    assert table.ops_pj == {"fp_mac": 1.5, "fp_acc": 0.4, "int_acc": 0.03}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("ops_pj: {fp_mac: 1, fp_acc: 1}\n", "ops_pj.int_acc"),
        ("ops_pj: {fp_mac: -1, fp_acc: 1, int_acc: 1}\n", "ops_pj.fp_mac"),
        ("ops_pj: {fp_mac: one, fp_acc: 1, int_acc: 1}\n", "ops_pj.fp_mac"),
        ("ops_pj: {fp_mca: 1, fp_mac: 1, fp_acc: 1, int_acc: 1}\n", "ops_pj.fp_mca"),
        ("ops: {fp_mac: 1}\n", "ops"),
        ("name: 3\nops_pj: {fp_mac: 1, fp_acc: 1, int_acc: 1}\n", "name"),
    ],
)
def test_user_table_errors_name_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=rf"bad\.yaml: field '{field}'"):
        load_table(path)


def test_table_spec_that_is_neither_name_nor_yaml():
    with pytest.raises(UserError, match="--table"):
        load_table("paperr")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("in=0.4,k=0.18,v=0.19,attn=0.03,int=0.09,q=0.1", "unknown component 'q'"),
        ("in=1.4,k=0.18,v=0.19,attn=0.03,int=0.09", "must be in \\[0, 1\\]"),
        ("in=-0.1,k=0.18,v=0.19,attn=0.03,int=0.09", "must be in \\[0, 1\\]"),
        ("in=abc,k=0.18,v=0.19,attn=0.03,int=0.09", "not a number"),
        ("in=nan,k=0.18,v=0.19,attn=0.03,int=0.09", "must be in \\[0, 1\\]"),
        ("in=0.4,k=0.18", "missing rate for v, attn, int"),
        ("in0.4", "not component=rate"),
    ],
)
def test_bad_ifr_strings(text, message):
    with pytest.raises(UserError, match=message):
        parse_ifr(text)


def formula_args(*extra: str) -> list[str]:
    return ["energy", "formula", "--seq-len", "200", "--hidden", "1024", "--layers", "4", "--tc", "10", *extra]


def test_cli_formula_json(capsys):
    assert main(formula_args("--ifr", PAPER_IFR, "--json")) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("ann_mj_per_layer", "ann_mj", "snn_mj_per_step_per_layer", "snn_mj_per_layer", "snn_mj", "efficiency"):
        assert key in result
    assert round(result["snn_mj"], 1) == 1.3 and result["ifr"]["k"] == 0.18 and result["seq_len"] == 200


def test_cli_formula_text_and_fp_acc(capsys):
    assert main(formula_args("--ifr", PAPER_IFR, "--snn-op", "fp_acc", "--table", "horowitz")) == 0
    out = capsys.readouterr().out
    assert "5.977 mJ per layer" in out and "fp_acc 0.9 pJ" in out


@pytest.mark.parametrize("ifr", ["in=0.4,k=0.18,v=0.19,attn=0.03,int=0.09,x=1", "in=2,k=0,v=0,attn=0,int=0", "in=a"])
def test_cli_bad_ifr_is_one_line_and_exit_2(capsys, ifr):
    assert main(formula_args("--ifr", ifr)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ifr" in err and "Traceback" not in err


def test_cli_table_json(capsys):
    assert main(["energy", "table", "--table", "horowitz", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ops_pj"]["int8_add"] == 0.03
