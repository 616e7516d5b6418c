"""vtg-export --target nir: the written folder holds one NIR file per subgraph and manifest.json; every file
reads back unchanged, imports through snnTorch's ``import_from_nir`` and through ``nirtorch.nir_to_torch``
within a deadline, and, run on the host inputs the model gave it, spikes as the model's populations do;
refusals are one line."""

from __future__ import annotations

import json
import threading

import nir
import nirtorch
import numpy as np
import pytest
import snntorch
import torch
from export_support import as_batch, features, spiking_checkpoint, write_checkpoint
from snntorch.import_nir import import_from_nir
from torch import nn

from export.command import main
from export.model_map import neuron_populations, weight_layers
from export.nir_target import DT, MANIFEST, SFG_FILE, subgraphs
from spiking.quant import effective_weight, quantised_once
from vtg.checkpoint import load_model

IMPORT_DEADLINE_S = 120  # both importers over every subgraph take about a second; a hang must fail, not stall CI


def export_nir(checkpoint, out, *extra):
    return main(["--target", "nir", "--checkpoint", str(checkpoint), "--out", str(out), *extra])


def within_deadline(work, seconds: float = IMPORT_DEADLINE_S):
    """``work()`` in a daemon thread; fails the test if it has not returned after ``seconds`` (a hung import)."""
    result: dict[str, object] = {}

    def target():
        try:
            result["value"] = work()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"importing or running the NIR subgraphs did not finish within {seconds} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


class SubtractiveTernary(nn.Module):
    """The neuron a runtime supplies from a node's metadata: u <- gamma u + I; s = [u >= theta] - [u <= -theta];
    u <- u - reset_by s (NIR's fields say gamma and theta, the metadata the ternary spikes and the reset)."""

    def __init__(self, gamma: float, threshold: float, metadata: dict):
        super().__init__()
        assert metadata["spikes"].startswith("ternary") and metadata["reset"] == "subtract"
        self.gamma, self.threshold, self.reset_by = gamma, threshold, metadata["reset_by"]
        self.mem: torch.Tensor | None = None

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        mem = current if self.mem is None else self.gamma * self.mem + current
        spikes = (mem >= self.threshold).to(mem.dtype) - (mem <= -self.threshold).to(mem.dtype)
        self.mem = mem - self.reset_by * spikes
        return spikes


def _single(array: np.ndarray) -> float:
    values = np.unique(array)
    assert values.size == 1, "one value per population"
    return float(values[0])


def _nirtorch_neuron(node) -> nn.Module:
    gamma = 1.0 if isinstance(node, nir.IF) else 1.0 - DT / _single(node.tau)
    return SubtractiveTernary(gamma, _single(node.v_threshold), node.metadata)


def _affine(node: nir.Affine) -> nn.Linear:
    # nirtorch 2.6's default Affine map assigns the bias to ``weight.bias``, leaving the layer's bias random
    layer = nn.Linear(node.weight.shape[1], node.weight.shape[0])
    layer.weight.data, layer.bias.data = torch.from_numpy(node.weight), torch.from_numpy(node.bias)
    return layer


def import_nirtorch(graph: nir.NIRGraph) -> nn.Module:
    node_map = {nir.LIF: _nirtorch_neuron, nir.IF: _nirtorch_neuron, nir.Affine: _affine}
    return nirtorch.nir_to_torch(graph, node_map)


def import_snntorch(graph: nir.NIRGraph, gamma: float) -> nn.Module:
    """snnTorch's import, its Leaky neurons then given the metadata's ternary spikes and subtractive reset.

    The conventions are checked on what snnTorch built: beta = the model's gamma (dt = 1e-4, R dt / tau = 1),
    threshold = the firing point; IF nodes become Leaky with beta 0.9 in snnTorch 1.0, so they get gamma 1.
    """
    module = import_from_nir(graph)
    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.LIF, nir.IF)):
            continue
        attribute = name.replace(".", "_")
        leaky = getattr(module, attribute)
        assert isinstance(leaky, snntorch.Leaky)  # binary, reset to zero (LIF) or by the threshold (IF)
        threshold = _single(leaky.threshold.detach().numpy())
        assert threshold == pytest.approx(_single(node.v_threshold), rel=1e-6)
        beta = 1.0 if isinstance(node, nir.IF) else _single(leaky.beta.detach().numpy())
        if isinstance(node, nir.LIF):
            assert beta == pytest.approx(gamma, abs=1e-6)
        setattr(module, attribute, SubtractiveTernary(beta, threshold, node.metadata))
    return module


def record(model, inputs: dict[str, torch.Tensor], tc: int) -> dict[str, list[torch.Tensor]]:
    """Per step, every population's input current ``<pop>.current`` and spikes ``<pop>``, and the decoders'
    read-outs ``decoder.{f,d}`` (C, clips), of one video through the model."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for name, neuron in neuron_populations(model).items():

        def pre(module, args, name=name):
            seen.setdefault(f"{name}.current", []).append(args[0].detach().clone()[0])

        def post(module, args, output, name=name):
            seen.setdefault(name, []).append(output.detach().clone()[0])

        hooks += [neuron.register_forward_pre_hook(pre), neuron.register_forward_hook(post)]
    for head in ("f", "d"):

        def readout(module, args, output, head=head):
            seen.setdefault(f"decoder.{head}", []).append(output.detach().clone()[0].T)

        hooks.append(getattr(model, f"{head}_decoder").register_forward_hook(readout))
    try:
        with torch.no_grad(), quantised_once(model):
            for _ in model.steps(model.prepare(as_batch(inputs)), tc):  # the decoders inside every step
                pass
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def host_io(model, seen, inputs, name: str, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Subgraph ``name``'s input at step t as the host gives it, and the model's value of its output."""
    lv, layers = inputs["video"].shape[1], model.config.num_layers
    if name.startswith("input."):
        modality = name.removeprefix("input.")
        x = inputs[modality][0]
        with torch.no_grad():
            return x, weight_layers(model)[name](x)
    if name == "input":
        return seen["input.current"][t], seen["input"][t]
    if name.startswith("decoder."):
        x = seen[f"layer{layers - 1}.out"][t][:lv].T[None]  # (1, D, clips)
        return x, seen[name][t][None]
    layer, part = name.split(".")
    i = int(layer.removeprefix("layer"))
    x = seen["input" if i == 0 else f"layer{i - 1}.out"][t]
    if part in ("q", "int"):
        source = x if part == "q" else seen[f"{layer}.so"][t]
        with torch.no_grad():
            return source, weight_layers(model)[name](source)
    if part in ("k", "v"):
        return x, seen[name][t]
    if part == "so":
        return torch.cat([seen[f"{layer}.attn.current"][t], x], -1), seen[name][t]
    return torch.cat([seen[f"{layer}.int.current"][t], seen[f"{layer}.so"][t]], -1), seen[name][t]


def rate_drive(values: list[torch.Tensor], gamma: float) -> list[torch.Tensor]:
    """The manifest's rate drive (``not_exported.rate_drive``): I[t] = N[t] P[t] - gamma N[t-1] P[t-1]."""
    currents, norm, previous = [], 0.0, None
    for value in values:
        norm = gamma * norm + 1.0
        total = norm * value
        currents.append(total if previous is None else total - gamma * previous)
        previous = total
    return currents


def running_means(values: list[torch.Tensor], gamma: float) -> list[torch.Tensor]:
    """m[t] = (gamma N[t-1] m[t-1] + y[t]) / N[t], N[t] = gamma N[t-1] + 1."""
    means, norm, mean = [], 0.0, 0.0
    for value in values:
        new_norm = gamma * norm + 1.0
        mean = (gamma * norm * mean + value) / new_norm
        norm = new_norm
        means.append(mean)
    return means


@pytest.mark.parametrize(
    ("variant", "fire_ratio", "rate_driven", "leak"),
    [
        ("nf", 1.0, False, 0.99),
        ("1bit_nf", 1.0, False, 0.99),
        ("1bit_nf", 0.5, False, 0.99),
        ("1bit_nf", 0.5, True, 0.99),
        ("nf", 0.5, False, 1.0),  # no leak: the encoder's neurons are IF, as the decoders'
    ],
)
def test_written_graph_reads_back_and_imports_as_the_model(tmp_path, capsys, variant, fire_ratio, rate_driven, leak):
    checkpoint = spiking_checkpoint(
        tmp_path / "m.ckpt", variant, fire_ratio=fire_ratio, rate_driven=rate_driven, leak=leak
    )
    out = tmp_path / "model_nir"
    assert export_nir(checkpoint, out, "--max-clips", "9", "--tc", "5") == 0
    assert str(out) in capsys.readouterr().out
    model, _ = load_model(checkpoint)
    written = subgraphs(model, clips=9)
    manifest = json.loads((out / MANIFEST).read_text())

    # one file per subgraph, listed in the manifest, and nothing else: every .nir file is one of them
    assert manifest["files"] == {name: f"{name}.nir" for name in written}
    assert {p.name for p in out.iterdir()} == {MANIFEST, SFG_FILE, *manifest["files"].values()}
    subgraphs_read = {p.name.removesuffix(".nir"): nir.read(p) for p in sorted(out.glob("*.nir"))}
    assert set(subgraphs_read) == set(written)
    for name, again in subgraphs_read.items():
        sub = written[name]
        assert isinstance(again, nir.NIRGraph)
        assert set(again.nodes) == set(sub.nodes) and sorted(again.edges) == sorted(sub.edges)
        assert sum(isinstance(n, nir.Input) for n in again.nodes.values()) == 1  # what the importers accept
        assert sum(isinstance(n, nir.Output) for n in again.nodes.values()) == 1
        assert again.metadata == sub.metadata
        for node_name, node in sub.nodes.items():
            for field in ("weight", "bias", "tau", "r", "v_leak", "v_threshold", "v_reset"):
                if hasattr(node, field):
                    np.testing.assert_array_equal(getattr(again.nodes[node_name], field), getattr(node, field))
            assert again.nodes[node_name].metadata == node.metadata

    # the weights are the model's effective ones: +-beta for every 1-bit layer
    key = model.layers[1].attention.key
    np.testing.assert_array_equal(
        subgraphs_read["layer1.k"].nodes["layer1.k"].weight, effective_weight(key).detach().numpy()
    )
    if variant == "1bit_nf":
        weighted = [
            n.weight
            for sub in subgraphs_read.values()
            for name, n in sub.nodes.items()
            if isinstance(n, (nir.Affine, nir.Conv1d)) and not name.startswith("select.")
        ]
        assert all(len(np.unique(np.abs(w))) == 1 for w in weighted)

    assert manifest["variant"] == variant and manifest["tc"] == 5 and manifest["clips"] == 9
    assert manifest["decoder_warmup_steps"] == 0 and "decoder_schedule" in manifest
    assert (
        manifest["format_version"] == 7
        and manifest["rate_driven"] == rate_driven
        and manifest["initial_gate"] == 1.0
        and manifest["dt"] == 1e-4
        and set(manifest["wiring"]) == set(written)
    )
    # NIR's v_threshold is the firing point r Vth; the amount subtracted stays Vth (each neuron's metadata)
    neuron = manifest["neuron"]
    assert neuron["fire_ratio"] == fire_ratio and neuron["reset_by"] == model.config.threshold
    k_neuron = subgraphs_read["layer0.k"].nodes["layer0.k.neuron"]
    assert isinstance(k_neuron, nir.IF if leak == 1.0 else nir.LIF)
    assert k_neuron.v_threshold.flat[0] == neuron["firing_point"] == fire_ratio * neuron["reset_by"]
    assert k_neuron.metadata["reset"] == "subtract" and k_neuron.metadata["reset_by"] == model.config.threshold
    assert {"attention", "activation", "sfg", "feedback", "products"} <= set(manifest["not_exported"])
    # what the host needs besides the subgraphs is in the folder: the sentence M from sfg.npz and input.text's
    # output as the manifest's formula states it, the heads and the activation
    sfg = manifest["sfg"]
    assert sfg["enabled"] is True and sfg["eps"] == model.sfg.eps and manifest["activation"] == "gelu"
    assert manifest["shape"]["num_heads"] == model.config.num_heads
    pool = torch.from_numpy(np.load(out / sfg["file"])["pool"])  # (D,)
    with torch.no_grad():
        q = model.inputs.text(torch.randn(1, 3, model.inputs.text.in_features))  # (1, Lq, D)
        phi = (1 + torch.relu(q[0] @ pool)) / 3  # (Lq,)
        sentence = model.sfg.sentence(q, torch.ones(1, 3, dtype=torch.bool))[0]
    torch.testing.assert_close((phi[:, None] * q[0]).sum(0), sentence, atol=1e-6, rtol=1e-6)

    # every subgraph through both importers, run on the host inputs the model gave it, step by step
    inputs = features(1, 9, 4) | {"video_mask": torch.ones(1, 9, dtype=torch.bool)}
    inputs["text_mask"][:] = True
    seen = record(model, inputs, tc=5)

    def run_all():
        fired = {}
        for importer in ("snntorch", "nirtorch"):
            for name, sub in subgraphs_read.items():  # every .nir file the export wrote
                module = import_snntorch(sub, model.config.leak) if importer == "snntorch" else import_nirtorch(sub)
                state = None
                for t in range(5):
                    x, expected = host_io(model, seen, inputs, name, t)
                    with torch.no_grad():
                        ours, state = module(x.float(), state)
                    spiking = any(isinstance(n, (nir.LIF, nir.IF)) for n in sub.nodes.values())
                    where = f"{importer}: {name} at step {t}"
                    if spiking and not name.startswith("decoder."):
                        assert torch.equal(ours, expected), where
                        fired[name] = fired.get(name, 0) + int(ours.abs().sum())
                    else:
                        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0, msg=where)
        return fired

    fired = within_deadline(run_all)
    assert all(fired.values()) and any((s == -1).any() for s in seen["layer0.k"])  # spikes, ternary ones too

    # the host's rate drive as the manifest states it, from the written int subgraph's outputs, gives the
    # current the model fed its intermediate neurons
    assert ("rate_drive" in manifest["not_exported"]) == rate_driven
    if rate_driven:
        for i, layer in enumerate(model.layers):
            module, state, outputs = import_nirtorch(subgraphs_read[f"layer{i}.int"]), None, []
            for t in range(5):
                with torch.no_grad():
                    y, state = module(seen[f"layer{i}.so"][t].float(), state)
                outputs.append(y)
            with torch.no_grad():
                activations = [layer.activation(m) for m in running_means(outputs, model.config.leak)]
            for t, current in enumerate(rate_drive(activations, model.config.leak)):
                torch.testing.assert_close(current, seen[f"layer{i}.int.current"][t].float(), atol=1e-4, rtol=1e-4)


def test_refusals_are_one_line(tmp_path, capsys):
    teacher = write_checkpoint(tmp_path / "u.ckpt", "univtg", hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=16)
    cases = [
        ((teacher, tmp_path / "a_nir"), "model 'univtg' is not spiking"),
        ((spiking_checkpoint(tmp_path / "b.ckpt", "base"), tmp_path / "b_nir"), "variant 'base' cannot be mapped"),
        ((spiking_checkpoint(tmp_path / "c.ckpt", "nf"), tmp_path / "c_nir", "--tc", "0"), "option --tc"),
        ((spiking_checkpoint(tmp_path / "d.ckpt", "nf"), tmp_path / "d.ckpt"), "option --out"),  # a file: not a folder
    ]
    for args, message in cases:
        assert export_nir(*args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    assert not list(tmp_path.glob("*_nir")) and not list(tmp_path.glob(".*.tmp"))


def test_an_export_over_an_earlier_one_removes_its_unlisted_files(tmp_path, capsys):
    """A 2-layer model with host input layers, then a 1-layer one without into the same folder: the old
    layer1.* subgraphs and host_input.npz go (named on stderr); files no manifest listed stay."""
    out = tmp_path / "model_nir"
    assert export_nir(spiking_checkpoint(tmp_path / "a.ckpt", "nf", input_mlp=True), out, "--max-clips", "4") == 0
    assert (out / "layer1.out.nir").is_file() and (out / "host_input.npz").is_file()
    (out / "notes.txt").write_text("mine")
    earlier = json.loads((out / MANIFEST).read_text())  # a hand-edited listing: the manifest itself, a folder
    earlier["files"].update({"x": MANIFEST, "y": "..", "z": "../outside.txt"})
    (out / MANIFEST).write_text(json.dumps(earlier))
    (tmp_path / "outside.txt").write_text("not the export's")
    capsys.readouterr()
    assert export_nir(spiking_checkpoint(tmp_path / "b.ckpt", "nf", num_layers=1), out, "--max-clips", "4") == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert {p.name for p in out.iterdir()} == {MANIFEST, SFG_FILE, "notes.txt", *manifest["files"].values()}
    assert "removed" in capsys.readouterr().err and (tmp_path / "outside.txt").is_file()
