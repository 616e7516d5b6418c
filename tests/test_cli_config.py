"""--config: YAML keys become option defaults, for plain commands and commands with actions."""

import json

from vtg.cli import main


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
