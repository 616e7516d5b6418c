"""Bundle names of a SpikingVTG model's weight layers and neuron populations.

The names are shared by the bundle's weight files, the Lava processes, the integer reference and the
activity records::

    input.video, input.text                      input projections (Linear)
    layer{i}.{q,k,v,so,int,out}                  encoder layer i: attention q/k/v, self-output,
                                                 intermediate, output (Linear)
    decoder.{f,d}.{j}                            decoder convolutions (Conv1d), j = 0 .. n - 1

    input, layer{i}.{k,v,attn,so,int,out}, decoder.{f,d}.{j}   neuron populations (TernaryLIF)
"""

from __future__ import annotations

from typing import Any

from torch import nn

ENCODER_LINEARS = ("q", "k", "v", "so", "int", "out")
ENCODER_POPULATIONS = ("k", "v", "attn", "so", "int", "out")


def weight_layers(model: Any) -> dict[str, nn.Module]:
    """Bundle name -> the model's linear or convolution layer."""
    layers: dict[str, nn.Module] = {"input.video": model.inputs.video, "input.text": model.inputs.text}
    for i, layer in enumerate(model.layers):
        attention = layer.attention
        modules = (attention.query, attention.key, attention.value, layer.self_output, layer.intermediate, layer.output)
        layers.update({f"layer{i}.{name}": module for name, module in zip(ENCODER_LINEARS, modules)})
    for head, decoder in (("f", model.f_decoder), ("d", model.d_decoder)):
        layers.update({f"decoder.{head}.{j}": conv for j, conv in enumerate(decoder.convs)})
    return layers


def layer_shapes(architecture: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Bundle name -> weight shape of each layer of :func:`weight_layers`, from the manifest's
    ``architecture`` alone (Linear (out, in); Conv1d (out, in, kernel)), to check a bundle's tensors."""
    hidden, ffn = architecture["hidden_dim"], architecture["ffn_dim"]
    shapes: dict[str, tuple[int, ...]] = {
        "input.video": (hidden, architecture["video_dim"]),
        "input.text": (hidden, architecture["text_dim"]),
    }
    encoder = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "so": (hidden, hidden)}
    encoder.update({"int": (ffn, hidden), "out": (hidden, ffn)})
    for i in range(architecture["num_layers"]):
        shapes.update({f"layer{i}.{name}": encoder[name] for name in ENCODER_LINEARS})
    for head, out_channels in (("f", 1), ("d", 2)):  # foreground logit; start and end offsets
        layers, kernel = architecture[f"{head}_layers"], architecture[f"{head}_kernel"]
        for j in range(layers):
            shapes[f"decoder.{head}.{j}"] = (hidden if j < layers - 1 else out_channels, hidden, kernel)
    return shapes


def neuron_populations(model: Any) -> dict[str, nn.Module]:
    """Population name -> the model's TernaryLIF module."""
    populations: dict[str, nn.Module] = {"input": model.input_lif}
    for i, layer in enumerate(model.layers):
        neurons = (
            layer.attention.k_lif,
            layer.attention.v_lif,
            layer.attention.attn_lif,
            layer.so_lif,
            layer.int_lif,
            layer.out_lif,
        )
        populations.update({f"layer{i}.{name}": neuron for name, neuron in zip(ENCODER_POPULATIONS, neurons)})
    for head, decoder in (("f", model.f_decoder), ("d", model.d_decoder)):
        populations.update({f"decoder.{head}.{j}": neuron for j, neuron in enumerate(decoder.neurons)})
    return populations
