"""--config: YAML keys become option defaults, for plain commands and commands with actions."""

import argparse
import json
from pathlib import Path

import pytest

from vtg.cli import main, prepare_command_parser
from vtg.config import check_config_values
from vtg.errors import UserError


def test_config_sets_required_options_of_an_action(tmp_path, capsys):
    config = tmp_path / "energy.yaml"
    config.write_text("seq_len: 200\nhidden: 1024\nifr: in=0.40,k=0.18,v=0.19,attn=0.03,int=0.09\n")
    assert main(["energy", "formula", "--config", str(config), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert round(answer["ann_mj_per_layer"], 2) == 5.98


def test_command_line_wins_over_config(tmp_path, capsys):
    config = tmp_path / "energy.yaml"
    config.write_text("seq_len: 200\nhidden: 1024\ntc: 10\nifr: in=0.40,k=0.18,v=0.19,attn=0.03,int=0.09\n")
    assert main(["energy", "formula", "--config", str(config), "--tc", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tc"] == 5


def test_unknown_config_key_is_one_line_and_status_2(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("seq_len: 200\nbogus: 1\n")
    assert main(["energy", "formula", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.yaml" in err and "'bogus'" in err


def test_invalid_yaml_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("seq_len: 200\nhidden: [1024\n")
    assert main(["energy", "formula", "--config", str(config)]) == 2
    assert "broken.yaml:" in capsys.readouterr().err


def test_a_key_written_twice_is_refused_with_its_line(tmp_path, capsys):
    """PyYAML alone keeps the second ``model:`` and drops the first without a word."""
    config = tmp_path / "twice.yaml"
    config.write_text("model:\n  name: spikingvtg\ntrain:\n  epochs: 2\nmodel: something else\n")
    data = tmp_path / "data"  # never reached: the config is read first
    assert main(["train", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "twice.yaml:5:" in err and "'model' written twice" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "command, text, field, message",
    [
        (["data", "synth"], "out: 123\nseed: 2.5\n", "seed", "expected an integer"),  # not int(2.5) = 2
        (["eval", "--submission", "p.jsonl", "--gt", "g.jsonl"], "json: 'no'\n", "json", "expected true or false"),
        (
            ["eval", "--submission", "p.jsonl", "--gt", "g.jsonl"],
            "window_tolerance: [1]\n",
            "window_tolerance",
            "single",
        ),
        (["predict", "--checkpoint", "c.ckpt", "--data", "d"], "accelerator: tpu\n", "accelerator", "not one of"),
        (["data", "info", "--root", "d"], "debug: true\n", "debug", "command line only"),
    ],
)
def test_config_values_are_checked_as_the_command_line_checks_them(tmp_path, capsys, command, text, field, message):
    """argparse converts only string defaults and checks none against its choices: a config's ``seed: 2.5``
    trained with seed 2, ``accelerator: tpu`` ran on the CPU and ``json: 'no'`` printed JSON."""
    config = tmp_path / "options.yaml"
    config.write_text(text)
    assert main([*command, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    line = next(i for i, text_line in enumerate(text.splitlines(), start=1) if text_line.startswith(field))
    assert err.count("\n") == 0 and f"options.yaml:{line}: field '{field}'" in err
    assert message in err


def parsed(tmp_path, module: str, argv: list[str], text: str) -> argparse.Namespace:
    """``argv`` parsed by command ``module``'s parser with a config file holding ``text``."""
    config = tmp_path / "options.yaml"
    config.write_text(text)
    argv = [*argv, "--config", str(config)]
    parser = argparse.ArgumentParser()
    prepare_command_parser(parser, module, argv)
    args = parser.parse_args(argv)
    check_config_values(args)
    return args


def test_config_values_follow_the_option_of_the_action_that_runs(tmp_path):
    """`vtg energy formula --tc` is an integer, `vtg energy report --tc` a list 1,2,4: the same key is checked
    against the option that is parsed; a YAML list is the comma-separated text; an option given several times
    (--beside) takes a list or one value, and the command line adds to it; null is as if the key were absent."""
    report = ["report", "--checkpoint", "s.ckpt", "--data", "d"]
    args = parsed(tmp_path, "energy.command", report, "tc: [1, 2]\nbeside: a.ckpt\n")
    assert args.tc == "1,2" and args.beside == [Path("a.ckpt")]
    args = parsed(tmp_path, "energy.command", [*report, "--beside", "b.ckpt"], "tc: '1,2'\nbeside: [a.ckpt]\n")
    assert args.tc == "1,2" and args.beside == [Path("a.ckpt"), Path("b.ckpt")]
    assert parsed(tmp_path, "energy.command", report, "tc: null\n").tc == "1,2,4,8,16"
    with pytest.raises(UserError, match=r"options.yaml:1: field 'tc': expected an integer, got '1,2'"):
        parsed(
            tmp_path, "energy.command", ["formula", "--ifr", "in=0.1", "--seq-len", "2", "--hidden", "4"], "tc: '1,2'\n"
        )


def test_a_refused_value_of_an_option_given_several_times_is_refused_at_once(tmp_path, capsys):
    """argparse adds the command line's --beside to the config's default: a refused one cannot wait."""
    config = tmp_path / "report.yaml"
    config.write_text("beside: true\n")
    argv = ["energy", "report", "--config", str(config), "--checkpoint", "s.ckpt", "--data", "d", "--beside", "z"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "report.yaml:1: field 'beside': expected a single value" in err


def test_help_shows_a_refused_default_as_refused(tmp_path, capsys):
    config = tmp_path / "eval.yaml"
    config.write_text("clip_len: abc\n")
    with pytest.raises(SystemExit):
        main(["eval", "--config", str(config), "--help"])
    out = capsys.readouterr().out
    assert "(refused: see the error without --help)" in out and "RefusedConfigValue" not in out


def test_a_section_named_like_an_option_stays_a_section(tmp_path, capsys):
    """``train:`` (a section) is not ``vtg data synth --train``."""
    synth = tmp_path / "synth.yaml"
    synth.write_text("train:\n  epochs: 2\n")
    out = tmp_path / "data"
    assert main(["data", "synth", "--config", str(synth), "--out", str(out), "--preset", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"]["train"] == 24  # the preset's, not a mapping


def test_yaml_aliases_are_refused_with_their_line(tmp_path, capsys):
    """Nested aliases expand exponentially; a few hundred bytes of them took minutes to check."""
    config = tmp_path / "alias.yaml"
    config.write_text("a: &x [1, 2]\nb: *x\n")
    assert main(["energy", "formula", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "alias.yaml:2:" in err and "alias *x" in err


def test_config_must_be_spelled_in_full_and_the_last_one_counts(tmp_path, capsys):
    """argparse takes --conf for --config, but the file's defaults are read before it parses: refused."""
    from vtg.config import config_path_in

    assert config_path_in(["train", "--config", "a.yaml", "--config=b.yaml"]) == Path("b.yaml")
    for short in ("--co", "--conf"):
        assert main(["info", "--model", "sdst", short, str(tmp_path / "c.yaml")]) == 2
        assert f"option {short}: write --config in full" in capsys.readouterr().err


def test_exponent_floats_are_numbers_as_in_yaml_1_2(tmp_path):
    """PyYAML's YAML 1.1 read train.lr: 1e-4 as the string '1e-4' (refused as not a number)."""
    from vtg.config import dump_yaml, load_yaml

    path = tmp_path / "c.yaml"
    path.write_text('a: 1e-4\nb: 1.0e4\nc: 3\nd: "1e-4"\ne: 1.0e-05\n')
    assert load_yaml(path) == {"a": 1e-4, "b": 1e4, "c": 3, "d": "1e-4", "e": 1e-5}
    path.write_text(dump_yaml({"d": "1e-4", "a": 1e-4}))  # the string stays a string: the dumper quotes it
    assert load_yaml(path) == {"d": "1e-4", "a": 1e-4}
