"""One definition of the student's populations (spiking/populations.py): the PyTorch model's modules, its
activity records and a Lava run's records of the same checkpoint agree on every component."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from energy.activity import record_from_outputs
from energy.float_work import shape_of_spiking_model
from energy.lava_run import load_simulation
from energy.measured import measure
from energy.ops import PAPER
from energy.sweep import decoder_read_steps
from export.lava_target import architecture, export
from spiking.populations import activity_components, population_modules, populations
from vtg.cli import main as vtg_main
from vtg.models import build_model

TC = 3
DIMS = {"video_dim": 16, "text_dim": 16, "video_levels": 2, "text_levels": 2}
# F != D (the intermediate population's width), three-layer f and d heads, two encoder layers; the
# decoders skip the first of the 3 steps (k = ceil(0.3 x 3) = 1)
CONFIG = {
    "variant": "1bit_nf",
    "hidden_dim": 16,
    "num_layers": 2,
    "num_heads": 2,
    "ffn_dim": 24,
    "tc": TC,
    "decoder_warmup": 0.3,
}


def one_query_batch(video: np.ndarray, text: np.ndarray) -> dict:
    """A batch of one query from its real features (Lv, Dv), (Lq, Dt), float64, one backbone level."""
    return {
        "video": torch.from_numpy(np.asarray(video, np.float64))[None, :, None],  # (1, Lv, 1, Dv)
        "text": torch.from_numpy(np.asarray(text, np.float64))[None, :, None],  # (1, Lq, 1, Dt)
        "video_mask": torch.ones(1, video.shape[0], dtype=torch.bool),
        "text_mask": torch.ones(1, text.shape[0], dtype=torch.bool),
    }


@pytest.mark.parametrize(
    "changes",
    [{}, {"f_layers": 1, "d_layers": 2, "d_kernel": 5, "num_layers": 1}],
    ids=["default-heads", "read-out-only-f"],
)
def test_populations_from_the_config_are_the_models(changes):
    """Names, widths and fan-outs defined from the config alone equal what the model's modules imply."""
    torch.manual_seed(0)
    config = {**CONFIG, **changes}
    model = build_model("spikingvtg", config, DIMS).eval()
    assert list(population_modules(model)) == [p.name for p in populations(model.config)]
    manifest = architecture(model, max_clips=64)  # a bundle's architecture: a mapping, read alike
    assert populations(manifest) == populations(model.config)
    assert activity_components(manifest) == activity_components(model.config)

    def conv_fan_out(conv) -> int:
        return conv.kernel_size[0] * conv.out_channels

    expected = {}
    for i, layer in enumerate(model.layers):
        attention = layer.attention
        expected[f"layer{i}.input"] = sum(m.out_features for m in (attention.query, attention.key, attention.value))
        expected.update({f"layer{i}.k": 1, f"layer{i}.v": 1, f"layer{i}.out": 0})  # k, v: per real token
        expected[f"layer{i}.attn"] = layer.self_output.out_features
        expected[f"layer{i}.so"] = layer.intermediate.out_features
        expected[f"layer{i}.int"] = layer.output.out_features
    decoders = {"f": model.f_decoder, "d": model.d_decoder}
    expected["decoder.input"] = sum(conv_fan_out(decoder.convs[0]) for decoder in decoders.values())
    for head, decoder in decoders.items():
        for j in range(len(decoder.neurons)):
            expected[f"decoder.{head}.{j}"] = conv_fan_out(decoder.convs[j + 1])
    expected["sfg"] = 0
    components = activity_components(model.config)
    assert {c.name: c.fan_out for c in components} == expected
    assert [c.name for c in components if c.per_token] == [
        f"layer{i}.{p}" for i in range(len(model.layers)) for p in "kv"
    ]

    # the neurons the PyTorch probes count on the hooked outputs are width x covered real tokens
    rng = np.random.default_rng(0)
    batch = one_query_batch(rng.normal(size=(7, 16)), rng.normal(size=(4, 16)))
    with torch.no_grad():
        activity = model.double()(batch, tc=2, activity=True)["activity"]
    assert list(activity) == [c.name for c in components]
    for c in components:
        assert activity[c.name]["neurons"] == c.neurons(7, 4), c.name
        assert activity[c.name]["fan_out"] == c.fan_out_at(7 + 4), c.name


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A tiny dataset, the bundle of a small random 1-bit NF model, and ``vtg simulate`` of its first
    three val queries in floating point (which the float64 PyTorch model matches spike for spike)."""
    root = tmp_path_factory.mktemp("activity")
    data, bundle, out = root / "data", root / "bundle", root / "simulation"
    assert vtg_main(["data", "synth", "--out", str(data), "--preset", "tiny", "--seed", "3"]) == 0
    torch.manual_seed(0)
    model = build_model("spikingvtg", CONFIG, DIMS)
    export(model, {}, argparse.Namespace(checkpoint=Path("random"), out=bundle, tc=None, max_clips=64))
    argv = ["simulate", "--bundle", str(bundle), "--data", str(data), "--precision", "float"]
    assert vtg_main([*argv, "--limit", "3", "--batch", "3", "--out", str(out), "--json"]) == 0
    return data, bundle, out


def test_lava_and_pytorch_activity_records_agree(simulated, capsys):
    """Query by query: the same components in the same order, neurons, fan-outs and spikes per step."""
    from export.bundle import read_bundle
    from export.float_reference import model_from_bundle
    from hw_sim.simulation import load_queries

    data, path, out = simulated
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["precision"] == "float" and metrics["queries"] == 3
    lava, shape, snn_op = load_simulation(out, path)
    bundle = read_bundle(path)
    assert shape == shape_of_spiking_model(bundle.architecture, bundle.architecture) and snn_op == "int_acc"
    _, queries = load_queries(str(data), "val", 3, bundle)
    model = model_from_bundle(bundle)  # the bundle's float weights in the PyTorch model, float64
    assert len(lava) == len(queries) == 3
    lengths = set()
    for record, query in zip(lava, queries):
        batch = one_query_batch(query.video, query.text)
        with torch.no_grad():
            outputs = model(batch, tc=TC, activity=True)
            torch_record = record_from_outputs(outputs["activity"], batch, decoder_read_steps(model, TC))
        assert record.decoder_read_steps == torch_record.decoder_read_steps == TC - 1
        assert (record.video_tokens, record.text_tokens) == (torch_record.video_tokens, torch_record.text_tokens)
        lengths.add(record.video_tokens[0] + record.text_tokens[0])
        assert list(record.components) == list(torch_record.components)
        for name, ours in record.components.items():
            theirs = torch_record.components[name]
            assert (ours.neurons, ours.fan_out) == (theirs.neurons, theirs.fan_out), name
            assert np.array_equal(ours.spikes, theirs.spikes), name
        assert sum(c.spikes.sum() for c in record.components.values()) > 0
        assert measure(record, shape, PAPER, snn_op) == measure(torch_record, shape, PAPER, snn_op)
    assert len(lengths) > 1  # queries of different lengths: k and v's fan-outs differ per query
