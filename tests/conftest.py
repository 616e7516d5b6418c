"""Fixtures shared by several test modules.

Helpers that are not fixtures live in modules not named ``test_*`` beside this one: ``engine_support``
(the tiny clip-wise model the engine tests register), ``export_support`` (tiny random SpikingVTG
checkpoints and step inputs), ``checkpoint_support`` (the one writer of random-weight checkpoints) and
``real_data`` (where the real-data tests look).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from engine_support import TINY_CONFIG, train_args

import vtg.models
from vtg.cli import main


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tiny models on one thread: on a shared 2-core machine, two threads contend and are slower.

    A module asks for it with ``pytestmark = pytest.mark.usefixtures("one_thread")``; the previous setting is
    restored after the module.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ------------------------------------------------------------------------------------------------
# The engine's tiny model (engine_support), its dataset, config and one training run


@pytest.fixture(scope="session")
def tiny_model():
    """Register the tiny model as ``tiny`` while the tests that ask for it run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(vtg.models.MODEL_BUILDERS, "tiny", "engine_support:build")
        yield "tiny"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A tiny synthetic dataset folder (24 train and 8 val queries, 16-dim features, 2 levels)."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    assert main(["data", "synth", "--preset", "tiny", "--out", str(root), "--seed", "0"]) == 0
    return root


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    """A config file for the tiny model."""
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_model, tiny_data, tiny_config, tmp_path_factory) -> Path:
    """The output folder of a 2-epoch training run of the tiny model (constant learning rate)."""
    out = tmp_path_factory.mktemp("runs") / "two_epochs"
    assert main(train_args(tiny_config, tiny_data, out, "--epochs", "2")) == 0
    return out


# ------------------------------------------------------------------------------------------------
# A tiny dataset and the Lava bundle of a small random student over it (the Lava and export tests);
# shared by several modules, so read only


@pytest.fixture(scope="session")
def synth_tiny(tmp_path_factory) -> Path:
    """``vtg data synth --preset tiny --seed 3``: 24 train and 8 val queries, 16-dim features at 2 levels."""
    data = tmp_path_factory.mktemp("synth_tiny") / "data"
    assert main(["data", "synth", "--out", str(data), "--preset", "tiny", "--seed", "3"]) == 0
    return data


@pytest.fixture(scope="session")
def random_bundle(synth_tiny, tmp_path_factory) -> tuple[Path, Path]:
    """``(data, bundle)``: :func:`synth_tiny` and the Lava bundle of a random 1-bit NF SpikingVTG over its
    features (seed 0; D 16, 2 layers, 2 heads, FFN 16, GELU, Tc 3)."""
    from export.lava_target import export  # here, not at the top: only the tests that ask for it import Lava

    torch.manual_seed(0)
    config = {"variant": "1bit_nf", "hidden_dim": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 16, "tc": 3}
    dims = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
    bundle = tmp_path_factory.mktemp("random_bundle") / "bundle"
    model = vtg.models.build_model("spikingvtg", config, dims)
    export(model, {}, argparse.Namespace(checkpoint=Path("random"), out=bundle, tc=None, max_clips=64))
    return synth_tiny, bundle
