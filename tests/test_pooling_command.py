"""``vtg pool-features``: output files and shapes, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from sdst_teacher.pooling import pool_tokens, seeded_adaptive_pool
from vtg.cli import main
from vtg.data.features import load_video_features


def write_tokens(folder, name: str, array: np.ndarray, key: str = "tokens") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"{name}.npz", **{key: array})


@pytest.fixture()
def token_dir(tmp_path):
    rng = np.random.default_rng(0)
    for vid, clips in [("vidA", 5), ("vidB", 3)]:
        write_tokens(tmp_path / "tokens", vid, rng.standard_normal((clips, 4, 6, 8)).astype(np.float32))
    return tmp_path / "tokens"


@pytest.mark.parametrize("method", ["cls", "avg", "attn"])
def test_writes_one_feature_file_per_video(token_dir, tmp_path, capsys, method):
    out = tmp_path / "features"
    argv = ["pool-features", "--input", str(token_dir), "--out", str(out), "--method", method]
    assert main([*argv, "--levels", "2,4", "--attn-heads", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"videos": 2, "out": str(out), "method": method, "levels": [2, 4], "feature_dim": 8}
    tokens = np.load(token_dir / "vidA.npz")["tokens"]
    with np.load(out / "vidA.npz") as archive:
        assert archive.files == ["features"]
        features = archive["features"]
    assert features.shape == (5, 2, 8) and features.dtype == np.float32
    pool = seeded_adaptive_pool(8, 2, seed=0) if method == "attn" else None
    assert np.allclose(features, pool_tokens(tokens[:, [1, 3]], method, pool), atol=1e-6)
    assert np.load(out / "vidB.npz")["features"].shape == (3, 2, 8)


def test_all_levels_by_default_and_weights_file(token_dir, tmp_path, capsys):
    weights = tmp_path / "pool.npz"
    pool = seeded_adaptive_pool(8, 4, seed=9)
    np.savez(weights, **{k: v.numpy() for k, v in pool.state_dict().items()})
    out = tmp_path / "features"
    argv = ["pool-features", "--input", str(token_dir), "--out", str(out), "--method", "attn"]
    assert main([*argv, "--attn-weights", str(weights), "--attn-heads", "4"]) == 0
    assert "levels [1, 2, 3, 4]" in capsys.readouterr().out
    tokens = np.load(token_dir / "vidB.npz")["tokens"]
    assert np.allclose(np.load(out / "vidB.npz")["features"], pool_tokens(tokens, "attn", pool), atol=1e-6)


def test_output_is_a_video_feature_folder_the_data_loader_reads(token_dir, tmp_path):
    out = tmp_path / "video_features"
    assert main(["pool-features", "--input", str(token_dir), "--out", str(out), "--method", "avg"]) == 0
    assert load_video_features([out], "vidA").shape == (5, 4, 8)  # (T, K, F), as SDST consumes it


@pytest.mark.parametrize(
    ("array", "key", "message"),
    [
        (np.zeros((3, 2, 4, 8), np.float32), "features", r"bad\.npz: no array 'tokens'"),
        (np.zeros((3, 4, 8), np.float32), "tokens", r"bad\.npz: array 'tokens' has shape \(3, 4, 8\), expected 4-D"),
        (np.full((3, 2, 4, 8), np.nan, np.float32), "tokens", r"bad\.npz: array 'tokens': contains NaN"),
    ],
)
def test_bad_token_files_are_one_line_errors(tmp_path, capsys, array, key, message):
    write_tokens(tmp_path / "in", "bad", array, key)
    code = main(["pool-features", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--method", "avg"])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("vtg: error: ")
    assert re.search(message, error)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--levels", "2,9"], r"vidA\.npz: has levels 1\.\.4, option --levels asks for \[9\]"),
        (["--levels", "2,x"], "option --levels: expected comma-separated integers"),
        (["--levels", "2,2"], "option --levels: levels are distinct"),
        (["--attn-weights", "missing.npz"], "option --attn-weights: only used with --method attn"),
        (["--method", "max"], "option --method: 'max' is not one of cls, avg, attn"),
        (["--levels", "1.9"], "option --levels: expected comma-separated integers"),  # not level 1
    ],
)
def test_bad_options_are_one_line_errors(token_dir, tmp_path, capsys, extra, message):
    argv = ["pool-features", "--input", str(token_dir), "--out", str(tmp_path / "o"), "--method", "cls", *extra]
    assert main(argv) == 2
    assert re.search(message, capsys.readouterr().err)


def test_options_from_a_config_file(token_dir, tmp_path, capsys):
    config = tmp_path / "pool.yaml"
    config.write_text("method: avg\nlevels: [1, 3]\n")
    out = tmp_path / "features"
    assert main(["pool-features", "--config", str(config), "--input", str(token_dir), "--out", str(out)]) == 0
    tokens = np.load(token_dir / "vidA.npz")["tokens"]
    assert np.allclose(np.load(out / "vidA.npz")["features"], tokens[:, [0, 2]].mean(axis=2), atol=1e-6)


def test_missing_input_folder_and_weights_file(tmp_path, token_dir, capsys):
    missing = tmp_path / "nope"
    assert main(["pool-features", "--input", str(missing), "--out", str(tmp_path / "o"), "--method", "cls"]) == 2
    assert "nope: input folder not found" in capsys.readouterr().err
    argv = ["pool-features", "--input", str(token_dir), "--out", str(tmp_path / "o"), "--method", "attn"]
    assert main([*argv, "--attn-weights", str(tmp_path / "w.npz")]) == 2
    assert "w.npz: attention-pool weights file not found" in capsys.readouterr().err
