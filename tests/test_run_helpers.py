"""The run helpers the demo and the benchmarks share (vtg.scripts), the demo's steps, and its preset configs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vtg.config import load_yaml, preset
from vtg.demo import COMPARISON_SEEDS, Demo, format_is
from vtg.demo import main as demo_main
from vtg.scripts import CommandFailed, run_json, tool

ROOT = Path(__file__).resolve().parents[1]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_json_returns_the_last_line_of_stdout(tmp_path):
    answer = run_json(python("print('progress'); print('{\"a\": [1, 2]}')"), cwd=tmp_path)
    assert answer == {"a": [1, 2]}


def test_run_json_runs_in_the_given_folder(tmp_path):
    assert run_json(python("import json, os; print(json.dumps(os.getcwd()))"), cwd=tmp_path) == str(tmp_path)


def test_a_failure_raises_with_its_status_and_the_log_tail(tmp_path):
    log = tmp_path / "step.log"
    with pytest.raises(CommandFailed, match="failed with exit status 3") as failure:
        run_json(python("import sys; print('x' * 3000 + 'the end', file=sys.stderr); sys.exit(3)"), log=log)
    assert failure.value.returncode == 3
    assert str(failure.value).endswith("the end\n") and "x" * 2000 not in str(failure.value)
    assert log.read_text().startswith("xxx")


def test_tools_are_this_environments_console_scripts():
    assert Path(tool("vtg")).parent == Path(sys.executable).parent
    assert Path(tool("vtg")).is_file() and Path(tool("vtg-export")).is_file()


def test_every_preset_is_found_and_is_the_clones_file():
    names = sorted(path.name for path in (ROOT / "configs").glob("*.yaml"))
    assert "distill_demo.yaml" in names and "sdst_demo.yaml" in names and "univtg_demo.yaml" in names
    for name in names:
        assert preset(name).samefile(ROOT / "configs" / name)
        assert isinstance(load_yaml(preset(name)), dict)


def test_an_unknown_preset_names_itself():
    with pytest.raises(FileNotFoundError, match="no preset config 'nope.yaml'"):
        preset("nope.yaml")


def counting(output: Path, log: Path, answer: str = '{"n": 1}') -> list[str]:
    """A command that makes ``output``, adds a line to ``log`` and answers ``answer``."""
    make = f"import pathlib; pathlib.Path({str(output)!r}).touch()"
    count = f"open({str(log)!r}, 'a').write('ran\\n')"
    return python(f"{make}; {count}; print({answer!r})")


def test_a_demo_step_keeps_its_answer_and_is_reused(tmp_path, capsys):
    output, log = tmp_path / "made", tmp_path / "log"
    command = counting(output, log)
    assert Demo(tmp_path, quick=True).step("first", output, command) == {"n": 1}
    assert json.loads((tmp_path / "steps" / "first.json").read_text()) == {"n": 1}
    # a second run of the same command finds the output and the answer: nothing runs
    assert Demo(tmp_path, quick=True).step("first", output, command) == {"n": 1}
    assert "reusing" in capsys.readouterr().out and log.read_text() == "ran\n"


def test_a_demo_step_runs_again_for_another_command_and_after_an_earlier_step_ran(tmp_path, capsys):
    """--seeds 1 after --seeds 0, or a full run after --quick: the step and every later one run again."""
    first, second, log = tmp_path / "first", tmp_path / "second", tmp_path / "log"
    demo = Demo(tmp_path, quick=True)
    demo.step("first", first, counting(first, log)), demo.step("second", second, counting(second, log))
    again = Demo(tmp_path, quick=True)
    again.step("first", first, counting(first, log) + ["--other"])  # an ignored argument: another command
    again.step("second", second, counting(second, log))  # its own command as before, but its input was remade
    out = capsys.readouterr().out
    assert "first: its command changed" in out and "second: first ran again" in out
    assert log.read_text().count("ran") == 4
    # stopped after first ran again (second failed): the next invocation does not trust second's old output
    broken = Demo(tmp_path, quick=True)
    broken.step("first", first, counting(first, log) + ["--third"])
    with pytest.raises(SystemExit):
        broken.step("second", second, python("raise SystemExit(3)"))
    fresh = Demo(tmp_path, quick=True)
    fresh.step("first", first, counting(first, log) + ["--third"])  # reused: the same command made it
    fresh.step("second", second, counting(second, log))
    out = capsys.readouterr().out
    assert "first: reusing" in out and "second: no record of its command" in out


def test_a_demo_step_of_another_answer_format_runs_again(tmp_path, capsys):
    """The same command, from a tool whose answer changed format: the cached answer is stale."""
    output, version = tmp_path / "made", tmp_path / "version"
    command = python(
        f"import json, pathlib; pathlib.Path({str(output)!r}).touch(); "
        f"print(json.dumps({{'format': pathlib.Path({str(version)!r}).read_text()}}))"
    )
    version.write_text("x/1")
    assert Demo(tmp_path, quick=True).step("first", output, command) == {"format": "x/1"}
    version.write_text("x/2")
    assert Demo(tmp_path, quick=True).step("first", output, command, stale=format_is("x/2")) == {"format": "x/2"}
    assert "the cached answer is x/1, not x/2, running it again" in capsys.readouterr().out
    version.write_text("x/3")  # not run again: the cached x/2 fits
    assert Demo(tmp_path, quick=True).step("first", output, command, stale=format_is("x/2")) == {"format": "x/2"}


def test_the_demo_distils_again_for_other_seeds(tmp_path, monkeypatch, capsys):
    commands = []

    def fake_distill(command):
        commands.append(command)
        after = command[command.index("--seeds") + 1 :]
        seeds = [int(s) for s in after[: next(i for i, s in enumerate(after) if s.startswith("--"))]]
        (tmp_path / "student").mkdir(exist_ok=True)
        (tmp_path / "student" / "comparison.json").write_text("{}")
        return {"comparison_metrics": {"distilled": {"runs": [{"seed": s} for s in seeds]}}}

    monkeypatch.setattr("vtg.demo.run_json", fake_distill)
    teacher = tmp_path / "teacher.ckpt"
    Demo(tmp_path, quick=False).distil(teacher)  # make demo: one seed, in one process
    assert commands[-1][commands[-1].index("--seeds") :][:2] == ["--seeds", "0"] and "--jobs" not in commands[-1]
    Demo(tmp_path, quick=False).distil(teacher)
    assert len(commands) == 1 and "reusing" in capsys.readouterr().out
    Demo(tmp_path, quick=False, seeds=COMPARISON_SEEDS).distil(teacher)  # three pairs, side by side
    assert len(commands) == 2 and "--jobs" in commands[-1] and commands[-1][commands[-1].index("--jobs") + 1] == "3"
    assert "distill: its command changed, running it again" in capsys.readouterr().out


def test_demo_seeds_must_be_distinct(capsys):
    with pytest.raises(SystemExit) as stop:
        demo_main(["--seeds", "1", "1", "--out", "never"])
    assert stop.value.code == 2
    assert "option --seeds: expected distinct non-negative seeds, got 1 1" in capsys.readouterr().err


def test_a_failed_demo_step_ends_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^\[demo\] broken failed with exit status 4$"):
        Demo(tmp_path, quick=True).step("broken", tmp_path / "never", python("raise SystemExit(4)"))
    assert not (tmp_path / "steps" / "broken.json").exists()


def test_the_demo_reports_energy_table_says_no_ratio_where_the_student_spent_nothing():
    from vtg.demo import energy_table

    points = [{"tc": 1, "energy_mj": 0.0, "efficiency": None, "metrics": {}}]
    points.append({"tc": 2, "energy_mj": 0.5, "efficiency": 3.25, "metrics": {"MR-full-R1@0.5": 40.0}})
    html = energy_table(points)
    assert "<td>-</td>" in html and "<td>3.2</td>" in html and "<td>40.00</td>" in html


def test_commands_run_with_their_threads_fixed(monkeypatch):
    """The demo's and benchmarks' commands do not follow the machine's load (vtg train's thread governor)."""
    import torch

    from vtg.scripts import fixed_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert fixed_threads()["OMP_NUM_THREADS"] == str(torch.get_num_threads())
    assert run_json(python("import json, os; print(json.dumps(os.environ['OMP_NUM_THREADS']))")) == str(
        torch.get_num_threads()
    )
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert fixed_threads()["OMP_NUM_THREADS"] == "3"
