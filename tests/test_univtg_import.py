"""``vtg teacher import --from univtg``: a released UniVTG checkpoint becomes an equivalent vtg teacher.

The fixture (``tests/fixtures/univtg_official/``, README there) holds the state dict of the official
UniVTG model on random weights, inputs of the QVHighlights feature sizes and the official outputs on them;
no official code runs here. The released file format (``model`` + ``opt`` Namespace + training state) is
rebuilt from it in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import torch

from sdst_teacher.univtg.model import official_boundaries
from vtg.checkpoint import load_model
from vtg.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "univtg_official" / "official_outputs.pt"


@pytest.fixture(scope="module")
def official() -> dict:
    return torch.load(FIXTURE, map_location="cpu", weights_only=True)


def write_released(path: Path, state: dict, options: dict | None = None) -> Path:
    """A file in the released format: the run's options are a pickled argparse.Namespace, as UniVTG saves them."""
    content = {"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "epoch": 7}
    if options is not None:
        content["opt"] = argparse.Namespace(**options, device=torch.device("cpu"))
    torch.save(content, path)
    return path


def run_import(tmp_path: Path, released: Path, *extra: str) -> int:
    out = tmp_path / "teacher.ckpt"
    return main(["teacher", "import", "--from", "univtg", "--checkpoint", str(released), "--out", str(out), *extra])


def test_import_reproduces_the_official_outputs(tmp_path, official, capsys):
    released = write_released(tmp_path / "model_best.ckpt", official["state_dict"], official["options"])
    assert run_import(tmp_path, released) == 0
    assert "78 of 81 released keys mapped" in capsys.readouterr().out  # 3 text-position keys left out

    model, checkpoint = load_model(tmp_path / "teacher.ckpt")
    assert checkpoint["vtg"]["model_name"] == "univtg"
    assert checkpoint["vtg"]["dims"]["video_dim"] == 2816  # SlowFast + CLIP; the model appends tef itself
    inputs = official["inputs"]
    batch = {
        "video": inputs["video"][:, :, None],  # (B, Lv, 1, 2816)
        "text": inputs["text"][:, :, None],  # (B, Lq, 1, 512)
        "video_mask": inputs["video_mask"],
        "text_mask": inputs["text_mask"],
    }
    with torch.no_grad():
        outputs = model(batch)
    real = inputs["video_mask"]  # padded clips carry no prediction (UniVTG gives them log(1e-45) saliency)
    num_clips = real.sum(dim=1).float()[:, None, None]  # (B, 1, 1)
    expected = official["outputs"]
    foreground = outputs["foreground_logits"].sigmoid()  # UniVTG returns the probabilities
    spans = outputs["boundary"] / num_clips * torch.tensor([-1.0, 1.0])  # UniVTG: (-ds, de) / n
    torch.testing.assert_close(foreground[real], expected["pred_logits"][..., 0][real], atol=1e-5, rtol=0)
    torch.testing.assert_close(spans[real], expected["pred_spans"][real], atol=1e-5, rtol=0)
    torch.testing.assert_close(outputs["saliency"][real], expected["saliency_scores"][real], atol=1e-5, rtol=0)


def test_official_decoding_gives_univtgs_windows():
    """Clip i of n, duration T, clip length c: [(i + c/2 - ds) T / n, (i + c/2 + de) T / n] seconds."""
    boundary = torch.tensor([[[1.0, 2.0], [0.5, 0.25], [3.0, 1.0]]])  # (1, 3, 2) clip units
    batch = {"video_mask": torch.ones(1, 3, dtype=torch.bool), "meta": [{"clip_len": 2.0, "duration": 7.5}]}
    shifted = official_boundaries(batch, boundary)  # around centres i + 0.5, in clips of 2 s
    centres = torch.arange(3.0) + 0.5
    windows = torch.stack([(centres - shifted[0, :, 0]) * 2.0, (centres + shifted[0, :, 1]) * 2.0], dim=-1)
    anchor = torch.arange(3.0) + 1.0  # i + c/2 with c = 2
    expected = torch.stack([anchor - boundary[0, :, 0], anchor + boundary[0, :, 1]], dim=-1) * 7.5 / 3
    torch.testing.assert_close(windows, expected)


def test_official_decoding_is_float32_under_bf16_outputs():
    """bf16 holds 8 significant bits: a 143.7 s video (72 clips) would be decoded as 144 s."""
    boundary = torch.full((1, 72, 2), 0.5)
    batch = {"video_mask": torch.ones(1, 72, dtype=torch.bool), "meta": [{"clip_len": 2.0, "duration": 143.7}]}
    shifted = official_boundaries(batch, boundary.to(torch.bfloat16))
    assert shifted.dtype == torch.float32
    torch.testing.assert_close(shifted, official_boundaries(batch, boundary))


def _renamed(state: dict) -> tuple[dict, str]:
    state = dict(state)
    state["weightedpool.weights"] = state.pop("weightedpool.weight")
    return state, "weightedpool.weights"


def _missing(state: dict) -> tuple[dict, str]:
    state = dict(state)
    del state["transformer.encoder.layers.2.norm1.bias"]
    return state, "transformer.encoder.layers.2.norm1.bias"


def _misshaped(state: dict) -> tuple[dict, str]:
    state = dict(state)
    key = "transformer.encoder.layers.1.linear2.weight"
    state[key] = state[key][:, :-1].clone()  # (32, 47) where (32, 48) belongs
    return state, key


@pytest.mark.parametrize("damage", [_renamed, _missing, _misshaped], ids=["renamed", "missing", "misshaped"])
def test_a_damaged_checkpoint_is_refused_naming_the_key(tmp_path, official, capsys, damage):
    state, key = damage(official["state_dict"])
    released = write_released(tmp_path / "model_best.ckpt", state, official["options"])
    assert run_import(tmp_path, released) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"'{key}'" in err, err
    assert not (tmp_path / "teacher.ckpt").exists()


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless here, but a pickle may name any callable


def test_a_file_that_needs_other_python_objects_is_refused(tmp_path, official, capsys):
    path = tmp_path / "model_best.ckpt"
    torch.save({"model": official["state_dict"], "opt": _RunsCode()}, path)
    assert run_import(tmp_path, path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refused" in err and "posix.getcwd" in err, err


def test_distill_runs_with_an_imported_teacher_on_features_of_the_official_sizes(tmp_path, official):
    released = write_released(tmp_path / "model_best.ckpt", official["state_dict"], official["options"])
    assert run_import(tmp_path, released) == 0
    data = tmp_path / "qv"
    assert main(["data", "synth", "--out", str(data), "--preset", "qvhighlights", "--train", "8", "--val", "4"]) == 0
    config = tmp_path / "distill.yaml"
    config.write_text(
        "model: {name: spikingvtg, variant: 1bit_nf, hidden_dim: 16, num_layers: 2, num_heads: 2, ffn_dim: 16,"
        " tc: 2, inference_tc: 2}\n"
        "train: {epochs: 1, batch_size: 4, seed: 0}\n"
        "distill: {layer_map: uniform, clrm_epochs: 0, task_stage_clrm_weight: 1.0}\n"
    )
    out = tmp_path / "run"
    argv = ["distill", "--teacher", str(tmp_path / "teacher.ckpt"), "--config", str(config), "--data", str(data)]
    argv += ["--out", str(out), "--epochs", "1", "--limit-train-batches", "2", "--limit-val-batches", "1"]
    assert main(argv) == 0
    assert (out / "student.ckpt").is_file()
