"""Bundle names of a SpikingVTG model's weight layers and neuron populations.

The names are shared by the bundle's weight files, the Lava processes, the integer reference and the
activity records::

    input.video, input.text                      input projections (Linear)
    layer{i}.{q,k,v,so,int,out}                  encoder layer i: attention q/k/v, self-output,
                                                 intermediate, output (Linear)
    decoder.{f,d}.{j}                            decoder convolutions (Conv1d), j = 0 .. n - 1

    input, layer{i}.{k,v,attn,so,int,out}, decoder.{f,d}.{j}   neuron populations (TernaryLIF)

The neuron populations are defined in :mod:`spiking.populations` (with the activity components and
their fan-outs); :func:`neuron_populations` is its name -> module map, re-exported for the export targets.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from spiking.populations import DECODER_OUTPUTS, ENCODER_POPULATIONS, conv_channels
from spiking.populations import population_modules as neuron_populations

__all__ = ["ENCODER_LINEARS", "ENCODER_POPULATIONS", "layer_shapes", "neuron_populations", "weight_layers"]

ENCODER_LINEARS = ("q", "k", "v", "so", "int", "out")


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
    for head in DECODER_OUTPUTS:  # read-out channels: the foreground logit; the start and end offsets
        for j, channels in enumerate(conv_channels(architecture, head)):
            shapes[f"decoder.{head}.{j}"] = (channels, hidden, architecture[f"{head}_kernel"])
    return shapes
