"""``vtg-export --target lava``: a SpikingVTG checkpoint -> a Lava bundle (export/bundle.py).

The 1-bit NF model is written in fixed point (the integer model of export/fixed_point.py) and in
floating point; the NF model in floating point only. Host input layers (``model.input_mlp``) are kept in
floating point for both (export/host_input.py). The base model cannot be mapped: softmax and
LayerNorm are non-local operations that Loihi-style cores do not have (paper Sec. 4.6).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from export import fixed_point as fp
from export.bundle import write_bundle
from export.host_input import host_arrays
from vtg.errors import UserError

DEFAULT_MAX_CLIPS = 256


def architecture(model: Any, max_clips: int) -> dict[str, Any]:
    """What the Lava processes need to know of the model (manifest ``architecture``)."""
    config = model.config
    return {
        "name": "spikingvtg",
        "variant": config.variant,
        "hidden_dim": config.hidden_dim,
        "num_layers": config.num_layers,
        "num_heads": config.num_heads,
        "ffn_dim": config.ffn_dim,
        "activation": config.activation,
        "sfg": config.sfg,
        "f_layers": config.f_layers,
        "f_kernel": config.f_kernel,
        "d_layers": config.d_layers,
        "d_kernel": config.d_kernel,
        "decoder_warmup": config.decoder_warmup,  # the decoders read steps k + 1 .. Tc, k = min(ceil(w Tc), Tc - 1)
        "initial_gate": config.initial_gate,  # the first step's gate g0 (fixed point: g0 in units 2^-12)
        "rate_driven": config.rate_driven,  # input and intermediate currents driven by running rates
        "host_input_layers": config.host_input_layers,  # float, on the host (export/host_input.py)
        "video_dim": model.inputs.video.in_features,
        "text_dim": model.inputs.text.in_features,
        "max_clips": max_clips,
        "nms_threshold": config.nms_threshold,
        "max_windows": config.max_windows,
    }


def export(model: Any, checkpoint: dict[str, Any], args: argparse.Namespace) -> Path:
    """Write the bundle of ``model`` to ``args.out``; return the manifest's path."""
    metadata = checkpoint.get("vtg", {}) if isinstance(checkpoint, dict) else {}
    if metadata.get("model_name", "spikingvtg") != "spikingvtg":
        raise UserError(f"{args.checkpoint}: model '{metadata['model_name']}' has no Lava mapping (only spikingvtg)")
    config = model.config
    if config.variant == "base":
        raise UserError(
            f"{args.checkpoint}: variant 'base' cannot be mapped to Lava (softmax and LayerNorm are not local "
            "operations); export an 'nf' or '1bit_nf' model"
        )
    tc = args.tc if args.tc is not None else config.eval_tc
    if tc < 1:
        raise UserError(f"option --tc: expected at least 1, got {tc}")
    train = metadata.get("train_config", {})
    max_clips = args.max_clips or train.get("max_video_len") or DEFAULT_MAX_CLIPS
    model = model.double().eval()
    arrays = {}
    float_arrays, float_scalars = fp.float_parameters(model)
    arrays["float"] = {**float_arrays, **host_arrays(model)}
    fixed = None
    if config.binary:
        arrays["fixed"], scalars = fp.integer_parameters(model, max_clips)
        fixed = {"formats": fp.FORMATS, "scalars": scalars}
    manifest = {
        "architecture": architecture(model, max_clips),
        "model_config": dataclasses.asdict(config),  # to rebuild the PyTorch model (export/float_reference.py)
        "tc": tc,
        "neuron": {
            "model": (
                "ternary LIF, subtractive reset: u <- gamma u + I; s = [u >= r Vth] - [u <= -r Vth]; u <- u - Vth s "
                "(r = fire_ratio)"
            ),
            "leak": config.leak,
            "threshold": config.threshold,
            "fire_ratio": config.fire_ratio,
            "decoder_leak": 1.0,
        },
        "quantization": {
            "weights": "1-bit: sgn(W - mean W), beta = mean|W|" if config.binary else "float",
            "spikes": "ternary {-1, 0, 1}",
        },
        "fixed_point": fixed,
        "float": float_scalars,
        "source": {"checkpoint": str(args.checkpoint), "metrics": metadata.get("metrics")},
    }
    return write_bundle(Path(args.out), manifest, arrays)
