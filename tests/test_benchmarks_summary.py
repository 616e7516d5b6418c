"""The benchmark runner's plumbing: strict JSON results and the Markdown summary (no timings asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks import common
from benchmarks.common import write_result
from benchmarks.run_all import BENCHMARKS, MODULES, load_results
from benchmarks.summary import SECTIONS, summary_markdown, write_summary

MACHINE = {
    "cpu": "test cpu",
    "cpus": 2,
    "python": "3.10",
    "torch": "2.3.1",
    "gpu": None,
    "load_average_1_5_15": [1, 1, 1],
}


def implicit_result() -> dict:
    runs = [
        {"grad": g, "tc": tc, "peak_rss_delta_mb": m * tc if g == "bptt" else 300.0, "saved_tensor_mb": 10.0 * tc,
         "step_s": 1.0}
        for g, m in (("implicit", 0), ("bptt", 500.0))
        for tc in (2, 10)
    ]  # fmt: skip
    return {
        "machine": MACHINE,
        "quick": True,
        "setup": {
            "model": {"variant": "base", "hidden_dim": 256, "num_layers": 4, "num_heads": 8},
            "batch_size": 8,
            "video_len": 75,
            "query_len": 20,
            "tcs": [2, 10],
        },  # fmt: skip
        "runs": runs,
        "bptt_over_implicit": {"2": {"peak_rss": 1000 / 300}, "10": {"peak_rss": 5000 / 300}},
        "implicit_peak_spread": 1.0,
        "acceptance": {"implicit_flat": True, "ratio_at_tc10_at_least_5": True},
    }


def training_result() -> dict:
    model = {
        "config": "configs/x.yaml",
        "parameters": 1234,
        "batch_size": 16,
        "steps_per_s": 2.5,
        "queries_per_s": 40.0,
    }
    return {"machine": MACHINE, "method": "timed", "models": {"univtg_teacher": model}}


def test_every_benchmark_has_a_module_and_a_summary_section():
    assert set(BENCHMARKS) == set(SECTIONS) == set(MODULES)


def test_write_result_is_strict_json_and_atomic(tmp_path):
    path = write_result("x", {"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": 2}}, results=tmp_path)
    assert path == tmp_path / "x.json"
    assert json.loads(path.read_text()) == {"a": None, "b": [None, 1.5], "c": {"d": 2}}
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed, not left behind


def test_summary_tables_carry_the_numbers_and_notes_for_missing_ones(tmp_path):
    results = {"implicit_vs_bptt": implicit_result(), "training_throughput": training_result()}
    errors = {"lava_simulation": "RuntimeError: no bundle", "training_throughput": "ValueError: x"}
    text = summary_markdown(results, errors=errors)
    assert text.startswith("# Benchmark results")
    assert "Measured on test cpu (2 cores)" in text.split("## Training memory")[1]
    assert "| 10 | 300 | 5000 | 16.7 |" in text  # Tc, implicit peak, BPTT peak, their ratio
    # a benchmark that failed in this run shows its failure, not the numbers an earlier run left
    assert "Failed in this run: ValueError: x" in text
    assert "| univtg_teacher |" not in text
    assert "| univtg_teacher | configs/x.yaml | 1234 | 16 | 2.5 | 40 |" in summary_markdown(results)
    assert "Failed in this run: RuntimeError: no bundle" in text
    assert "## Energy\n\nNot measured in this run." in text
    assert "Quick (`--quick`, reduced) runs: implicit_vs_bptt." in text
    # every table row has as many cells as its header
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, block
    path = write_summary(results, tmp_path / "SUMMARY.md")
    assert path.read_text() == summary_markdown(results)


def test_load_results_reads_only_known_benchmarks(tmp_path):
    write_result("energy_tc", {"x": 1.0}, results=tmp_path)
    write_result("something_else", {"y": math.pi}, results=tmp_path)
    assert load_results(tmp_path) == {"energy_tc": {"x": 1.0}}


def test_distillation_control_margins_wins_and_table():
    from benchmarks.distillation_control import STUDENTS, markdown, summarise

    # per seed: distilled, label-only and equal-steps label-only (R1@0.5, Hit1)
    scores = {"0": ((70.0, 50.0), (40.0, 45.0), (60.0, 52.0)), "1": ((74.0, 54.0), (44.0, 41.0), (76.0, 50.0))}
    runs = {
        seed: {
            student: {"steps": steps, "metrics": {"MR-full-R1@0.5": r1, "HL-min-VeryGood-Hit1": hit1}}
            for student, steps, (r1, hit1) in zip(STUDENTS, (1460, 338, 1469), values)
        }
        for seed, values in scores.items()
    }
    summary = summarise(runs)
    assert summary["distilled"]["mean"] == {"MR-full-R1@0.5": 72.0, "HL-min-VeryGood-Hit1": 52.0}
    assert summary["distilled_minus_label_only_equal_steps"] == {"MR-full-R1@0.5": 4.0, "HL-min-VeryGood-Hit1": 1.0}
    # seed 1's equal-steps student is ahead on R1@0.5: the distilled one wins one seed of two there
    assert summary["distilled_ahead_of_label_only_equal_steps"] == {"MR-full-R1@0.5": 1, "HL-min-VeryGood-Hit1": 1}
    assert summary["distilled_ahead_of_label_only"] == {"MR-full-R1@0.5": 2, "HL-min-VeryGood-Hit1": 2}
    text = markdown({"method": "m", "runs": runs, "summary": summary})
    assert "| label_only_equal_steps | 1469 | 68.0 ± 11.3 | 51.0 ± 1.4 |" in text
    assert "| label_only_equal_steps | +4.0 (ahead on 1 of 2 seeds) | +1.0 (ahead on 1 of 2 seeds) |" in text
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, block


def test_distillation_control_refuses_an_unfinished_demo_in_one_line(tmp_path, capsys):
    from benchmarks.distillation_control import main

    (tmp_path / "summary.json").write_text("{}")
    assert main(["--demo", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "student/comparison.json is missing" in error
    assert main(["--quick", "--demo", str(tmp_path)]) == 2
    assert "option --quick" in capsys.readouterr().err


def test_distillation_heldout_ratios_margins_and_table():
    from benchmarks.distillation_heldout import markdown, summarise

    def runs(*pairs):
        return [{"MR-full-R1@0.5": r1, "HL-min-VeryGood-Hit1": hit1} for r1, hit1 in pairs]

    teacher = {"MR-full-R1@0.5": 80.0, "HL-min-VeryGood-Hit1": 50.0}
    worlds = {
        "3": {"seeds": [0, 1], "teacher": teacher, "distilled": runs((70, 50), (74, 54)),
              "label_only": runs((40, 45), (76, 50))},
        "4": {"seeds": [0, 1], "teacher": {"MR-full-R1@0.5": 60.0, "HL-min-VeryGood-Hit1": 40.0},
              "distilled": runs((60, 40), (60, 44)), "label_only": runs((30, 41), (34, 43))},
    }  # fmt: skip
    summary = summarise(worlds)
    three = summary["worlds"]["3"]
    assert three["distilled"] == {"MR-full-R1@0.5": 72.0, "HL-min-VeryGood-Hit1": 52.0}
    assert three["distilled_to_teacher"] == {"MR-full-R1@0.5": 0.9, "HL-min-VeryGood-Hit1": 1.04}
    # training seed 1's label-only student is ahead on R1@0.5 in world 3
    assert three["distilled_ahead"] == {"MR-full-R1@0.5": 1, "HL-min-VeryGood-Hit1": 2}
    overall = summary["overall"]
    # the mean of the worlds' ratios (0.9 and 1.0), not the ratio of the means
    assert overall["distilled_to_teacher"]["MR-full-R1@0.5"] == 0.95
    assert overall["distilled_minus_label_only"]["MR-full-R1@0.5"] == (14.0 + 28.0) / 2
    assert overall["distilled_ahead"] == {"MR-full-R1@0.5": 3, "HL-min-VeryGood-Hit1": 3} and overall["pairs"] == 4
    text = markdown({"method": "m", "worlds": worlds, "summary": summary})
    assert "| 3 | 80.0 / 50.0 | 72.0 / 52.0 | 58.0 / 47.5 | 90% / 104% | +14.0 / +4.5 | 1 of 2 / 2 of 2 |" in text
    assert "| mean over worlds |" in text and "| 4 | 1 | 60.0 / 44.0 | 34.0 / 43.0 |" in text
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, block


def test_distillation_heldout_refuses_repeated_data_seeds_in_one_line(capsys):
    from benchmarks.distillation_heldout import main

    assert main(["--data-seeds", "3", "3"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "option --data-seeds" in error


def test_train_once_reuses_only_a_finished_run_of_the_same_config(tmp_path, monkeypatch):
    calls = []

    def fake_train(command, log):  # vtg train: Lightning writes last.ckpt
        calls.append(command)
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        (out / "last.ckpt").write_text("weights")

    monkeypatch.setattr(common, "run_json", fake_train)
    config, config_file, out = {"train": {"epochs": 2}}, tmp_path / "run.yaml", tmp_path / "run"

    def train(config):
        return common.train_once(config, config_file, out, tmp_path, say=lambda _: None, label="x")

    out.mkdir()
    (out / "last.ckpt").write_text("a killed run's last epoch")  # no config file: the run did not finish
    assert train(config) == out / "last.ckpt" and len(calls) == 1
    assert (out / "last.ckpt").read_text() == "weights"
    train(config)  # finished, same config: reused
    assert len(calls) == 1
    train({"train": {"epochs": 3}})  # another config: trained again
    assert len(calls) == 2


def test_student_vs_nonspiking_shares_of_a_zero_score_are_none():
    """A model that scored 0 keeps no share: the summary says n/a instead of dividing by zero."""
    from benchmarks.student_vs_nonspiking import REFERENCE, STUDENTS, TCS, share, summarise

    assert share(3.0, 4.0) == 0.75 and share(3.0, 0.0) is None
    metrics = {"MR-full-R1@0.5": 0.0, "HL-min-VeryGood-Hit1": 40.0}
    runs = {0: {REFERENCE: dict(metrics), **{s: {str(tc): dict(metrics) for tc in TCS} for s in STUDENTS}}}
    summary = summarise(runs, train_tc=8)
    for student in STUDENTS:
        assert summary[student]["ratio_to_reference"] == {"MR-full-R1@0.5": None, "HL-min-VeryGood-Hit1": 1.0}
        assert summary[student]["kept_at_tc2"]["MR-full-R1@0.5"] is None
