"""vtg-export --target nir: the written graph reads back unchanged and, run with SpikingVTG's neurons and the
host steps its manifest names, reproduces the model; refusals are one line."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_export_onnx_support import as_batch, features, spiking_checkpoint, write_checkpoint

from export.command import main
from export.nir_target import build_graph
from spiking.inputs import sinusoidal_positions
from spiking.quant import effective_weight
from vtg.engine.checkpoint import load_model


def export_nir(checkpoint, out, *extra):
    return main(["--target", "nir", "--checkpoint", str(checkpoint), "--out", str(out), *extra])


class GraphRun:
    """Runs a written graph for one video: nodes evaluated on demand each step, neurons with the manifest's
    ternary, subtract-reset dynamics (firing at v_threshold, subtracting the manifest's ``reset_by``), gamma
    and input scale recovered from NIR's (tau, r) by forward Euler,
    and the host steps of the manifest done with the model's own code (attention products, activation, SFG)."""

    def __init__(self, graph: nir.NIRGraph, model, video: torch.Tensor, text: torch.Tensor):
        self.graph, self.model, self.video, self.text = graph, model, video, text  # (Lv, Dv), (Lq, Dt)
        self.manifest = json.loads(graph.metadata["vtg_manifest"])
        self.sources = {name: [a for a, b in graph.edges if b == name] for name in graph.nodes}
        self.membranes: dict[str, torch.Tensor] = {}
        self.fired: dict[str, float] = {}  # neuron node -> number of spikes (+1 and -1) over the run
        self.gate = torch.ones(video.shape[0])  # (Lv,)
        self.asr_sum, self.asr_norm = 0.0, 0.0

    def value(self, name: str) -> torch.Tensor:
        if name not in self.values:
            node = self.graph.nodes[name]
            if isinstance(node, nir.Input):
                self.values[name] = self.host(name.removeprefix("in."))
            else:
                current = sum(self.value(source) for source in self.sources[name])
                self.values[name] = self.apply(name, node, current)
        return self.values[name]

    def apply(self, name: str, node: nir.NIRNode, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_numpy
        if isinstance(node, nir.Affine):
            return x @ t(node.weight).T + t(node.bias)  # (tokens, out)
        if isinstance(node, nir.Conv1d):
            return F.conv1d(x[None], t(node.weight), t(node.bias), padding=int(node.padding))[0]  # (C, clips)
        if isinstance(node, (nir.LIF, nir.IF)):
            dt = self.manifest["dt"]
            gamma, scale = (
                (1.0, dt * t(node.r))
                if isinstance(node, nir.IF)
                else (1 - dt / t(node.tau), dt * t(node.r) / t(node.tau))
            )
            threshold = t(node.v_threshold)
            u = gamma * self.membranes.get(name, 0.0) + scale * x
            spikes = (u >= threshold).float() - (u <= -threshold).float()
            self.membranes[name] = u - self.manifest["neuron"]["reset_by"] * spikes
            self.fired[name] = self.fired.get(name, 0.0) + float(spikes.abs().sum())
            return spikes
        assert isinstance(node, nir.Output), name
        return x

    def host(self, signal: str) -> torch.Tensor:
        model, lv = self.model, self.video.shape[0]
        if signal in ("video", "text"):
            return getattr(self, signal)
        if signal == "input":
            v = self.value("out.input.video") + sinusoidal_positions(lv, model.config.hidden_dim)
            return torch.cat([v * self.gate[:, None], self.value("out.input.text")])  # (L, D)
        if signal.startswith("decoder."):
            return self.value("out.encoder")[:lv].T  # (D, Lv)
        layer, part = signal.split(".")
        if part == "int":
            return model.layers[int(layer[5:])].activation(self.value(f"out.{layer}.int"))
        heads = model.config.num_heads
        q, k, v = (
            self.value(f"out.{layer}.{p}").unflatten(1, (heads, -1)).transpose(0, 1) for p in "qkv"
        )  # (H, L, dh)
        alpha = torch.relu(q @ k.transpose(1, 2)) / q.shape[1]  # (H, L, L), Eq. 7
        return (alpha @ v).transpose(0, 1).flatten(1)  # (L, D)

    def run(self, tc: int) -> dict[str, torch.Tensor]:
        lv, mask = self.video.shape[0], torch.ones(1, self.video.shape[0], dtype=torch.bool)
        readouts = {"f": 0.0, "d": 0.0}
        for _ in range(tc):
            self.values: dict[str, torch.Tensor] = {}
            for head in readouts:
                readouts[head] = readouts[head] + self.value(f"out.decoder.{head}")  # (C, Lv)
            gamma = self.model.config.leak
            self.asr_sum = gamma * self.asr_sum + self.value("out.encoder")[:lv]  # (Lv, D)
            self.asr_norm = gamma * self.asr_norm + 1.0
            query = self.value("out.input.text")[None]  # (1, Lq, D)
            sentence = self.model.sfg.sentence(query, torch.ones(query.shape[:2], dtype=torch.bool))
            score, gate = self.model.sfg((self.asr_sum / self.asr_norm)[None], sentence, mask)
            self.gate = gate[0]
        return {
            "foreground_logits": readouts["f"][0] / tc,
            "boundary": F.softplus(readouts["d"].T / tc),
            "saliency": score[0],
        }


@pytest.mark.parametrize(("variant", "fire_ratio"), [("nf", 1.0), ("1bit_nf", 1.0), ("1bit_nf", 0.5)])
def test_written_graph_reads_back_and_runs_as_the_model(tmp_path, capsys, variant, fire_ratio):
    checkpoint = spiking_checkpoint(tmp_path / "m.ckpt", variant, fire_ratio=fire_ratio)
    out = tmp_path / "model.nir"
    assert export_nir(checkpoint, out, "--max-clips", "9", "--tc", "5") == 0
    assert str(out) in capsys.readouterr().out
    model, _ = load_model(checkpoint)
    written, read = build_graph(model, clips=9, tc=5), nir.read(out)

    assert set(read.nodes) == set(written.nodes) and sorted(read.edges) == sorted(written.edges)
    for name, node in written.nodes.items():
        again = read.nodes[name]
        assert type(again) is type(node)
        for field in ("weight", "bias", "tau", "r", "v_leak", "v_threshold", "v_reset"):
            if hasattr(node, field):
                np.testing.assert_array_equal(getattr(again, field), getattr(node, field))
        assert again.metadata == node.metadata
    assert read.metadata == written.metadata

    # the weights are the model's effective ones: +-beta for every 1-bit layer
    key = model.layers[1].attention.key
    np.testing.assert_array_equal(read.nodes["layer1.k"].weight, effective_weight(key).detach().numpy())
    if variant == "1bit_nf":
        weighted = [n.weight for n in read.nodes.values() if isinstance(n, (nir.Affine, nir.Conv1d))]
        assert all(len(np.unique(np.abs(w))) == 1 for w in weighted)

    manifest = json.loads(read.metadata["vtg_manifest"])
    assert manifest["variant"] == variant and manifest["tc"] == 5 and manifest["clips"] == 9
    # NIR's v_threshold is the firing point r Vth; the amount subtracted stays Vth (in the manifest only)
    neuron = manifest["neuron"]
    assert neuron["fire_ratio"] == fire_ratio and neuron["reset_by"] == model.config.threshold
    assert (
        read.nodes["layer0.k.neuron"].v_threshold.flat[0] == neuron["firing_point"] == fire_ratio * neuron["reset_by"]
    )
    assert {"attention", "activation", "sfg", "feedback", "products"} <= set(manifest["not_exported"])
    assert all(node.metadata["role"] for node in [*read.inputs.values(), *read.outputs.values()])

    # with SpikingVTG's neurons and the host steps, the graph is the model on a video of exactly 9 clips
    inputs = features(1, 9, 4) | {"video_mask": torch.ones(1, 9, dtype=torch.bool)}
    inputs["text_mask"][:] = True
    with torch.no_grad():
        reference = model(as_batch(inputs), tc=5)
        run = GraphRun(read, model, inputs["video"][0], inputs["text"][0])
        ours = run.run(tc=5)
    neurons = {name for name, node in read.nodes.items() if isinstance(node, (nir.LIF, nir.IF))}
    assert set(run.fired) == neurons and all(run.fired.values())  # every population took part
    for name, value in ours.items():
        torch.testing.assert_close(value, reference[name][0], atol=1e-4, rtol=0)


def test_refusals_are_one_line(tmp_path, capsys):
    teacher = write_checkpoint(tmp_path / "u.ckpt", "univtg", hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=16)
    cases = [
        ((teacher, tmp_path / "a.nir"), "model 'univtg' is not spiking"),
        ((spiking_checkpoint(tmp_path / "b.ckpt", "base"), tmp_path / "b.nir"), "variant 'base' cannot be mapped"),
        ((spiking_checkpoint(tmp_path / "c.ckpt", "nf"), tmp_path / "c.nir", "--tc", "0"), "option --tc"),
        ((spiking_checkpoint(tmp_path / "d.ckpt", "nf"), tmp_path), "option --out"),
    ]
    for args, message in cases:
        assert export_nir(*args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    assert not list(tmp_path.glob("*.nir"))
