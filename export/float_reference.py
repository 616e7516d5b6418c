"""The PyTorch floating-point reference of a bundle: the SpikingVTG model itself, rebuilt from the
bundle's float weights, run in float64 on one query with its spikes recorded population by population.

A 1-bit layer's weight is stored as beta sgn(.), which the model's quantiser maps onto itself
(sgn(beta s - mean) = s and mean|beta s| = beta), so the rebuilt model is the exported one. Its
neurons fire at the firing point of ``model_config.fire_ratio`` (SpikingVTG sets it on every neuron),
which :func:`export.bundle.read_bundle` checked to be the bundle's ``float.fire_ratio``.
"""

from __future__ import annotations

import numpy as np
import torch

from export.bundle import Bundle
from export.host_input import load_host_arrays
from export.integer_reference import ReferenceRun
from export.model_map import neuron_populations, weight_layers
from spiking.activity import stack_steps


def model_from_bundle(bundle: Bundle):
    """A float64 :class:`spiking.model.SpikingVTG` in eval mode with the bundle's float weights."""
    from vtg.models import build_model

    arch = bundle.architecture
    dims = {"video_dim": arch["video_dim"], "text_dim": arch["text_dim"], "video_levels": 1, "text_levels": 1}
    model = build_model("spikingvtg", bundle.manifest["model_config"], dims).double().eval()
    arrays = bundle.arrays["float"]
    with torch.no_grad():
        for key, layer in weight_layers(model).items():
            layer.weight.copy_(torch.from_numpy(arrays[f"{key}.weight"]))
            layer.bias.copy_(torch.from_numpy(arrays[f"{key}.bias"]))
        model.sfg.pool.weight.copy_(torch.from_numpy(arrays["sfg.pool"])[None])
    load_host_arrays(model, arrays)
    return model


@torch.no_grad()
def float_reference(model, video: np.ndarray, text: np.ndarray, tc: int) -> ReferenceRun:
    """Run ``model`` on one query (real features (Lv, Dv), (Lq, Dt)) for Tc steps, recording spikes."""
    spikes: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name, neuron in neuron_populations(model).items():

        def record(module, inputs, output, name=name):
            s = output[0]  # (L, D), or (C, Lv) in the decoders
            spikes.setdefault(name, []).append((s.T if name.startswith("decoder.") else s).to(torch.int8))

        handles.append(neuron.register_forward_hook(record))
    batch = {
        "video": torch.from_numpy(np.asarray(video, np.float64))[None, :, None],  # (1, Lv, 1, Dv)
        "text": torch.from_numpy(np.asarray(text, np.float64))[None, :, None],
        "video_mask": torch.ones(1, video.shape[0], dtype=torch.bool),
        "text_mask": torch.ones(1, text.shape[0], dtype=torch.bool),
    }
    try:
        outputs = model(batch, tc=tc)
    finally:
        for handle in handles:
            handle.remove()
    return ReferenceRun(
        spikes=stack_steps(spikes, tc),
        foreground_logits=outputs["foreground_logits"][0],
        boundary=outputs["boundary"][0],
        score=outputs["saliency"][0],
        gate=outputs["saliency_gate"][0],
    )
