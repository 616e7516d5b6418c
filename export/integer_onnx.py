"""``vtg-export --target onnx --integer``: the integer model of 1-bit NF SpikingVTG as one ONNX graph.

    vtg-export --target onnx --integer --checkpoint C --out model.onnx [--tc N] [--max-clips N]
    python -m export.integer_onnx --onnx model.onnx --checkpoint C --data DIR [--split val] [--limit N]

The graph computes what a fixed-point deployment computes (the integer model of export/fixed_point.py,
the weights and scalars of a Lava bundle's ``fixed/`` part, :func:`export.fixed_point.integer_parameters`):
it is the trace of the integer reference's own steps (:class:`export.integer_reference.IntegerSteps`),
the decoders' warm-up (``model.decoder_warmup``) and the rate-driven currents (``model.rate_driven``)
included, in its arithmetic:
round-half-up shifts rshift(x, n) = floor((x + 2^(n-1)) / 2^n), rdiv, the exact isqrt, 24-bit
saturation, the GELU table, firing at |U| >= Phi and subtracting Theta. Every tensor is int64 at run
time; the initialisers are the narrowest integers that hold them: **the 1-bit weights sgn(W - mean W)
as int8** (cast to int64 in the graph), biases, the GELU tables and SFG's pooling weights as int32.
The scalars (thresholds, firing points, leak, residual weights, scales) are constants of the graph.

One call runs one query for Tc steps (``--tc``, unrolled: the integer model has no use for a step
count chosen later, the float step model of export/onnx_target.py serves that), real tokens only,
video first, as the reference does:

    inputs   video (Lv, Dv), text (Lq, Dt)   int64 features X = rint(x 2^12) clipped to 16 bits
                                             (:func:`export.fixed_point.quantize_features`, on the host);
                                             with host input layers (``model.input_mlp``) the real
                                             features in float64 instead: the graph's float front
                                             computes the layers (export/host_input.py) and X, as the
                                             host of a Lava deployment does (metadata ``vtg.inputs``);
                                             Lv <= the exported max clips (the clip positions' table)
    outputs  foreground.sum (Lv, 1), boundary.sum (Lv, 2)   the read-out currents summed over the
                                             n = Tc - k steps the decoders read (k their warm-up steps)
             cosine (Lv,) SFG's score (units 2^-16), gate (Lv,) its min-max gate (units 2^-12)
             spikes.<population> (Tc, tokens, width) int8, export/model_map.py's populations (the
             decoders' 0 in their warm-up)

The host reads out f = foreground.sum * s_f / n and d = softplus(boundary.sum * s_d / n) with the
read-out scales and n in the file's metadata (``vtg.readout_scale``, ``vtg.decoder_read_steps``), as for
a Lava run. Format version 2 added ``vtg.decoder_read_steps`` (version 1 graphs read every step).

**Check.** Before writing, the graph is run with onnxruntime on random features of two sizes other
than the traced one and compared with the PyTorch integer reference: every spike and every integer
output must be equal (no tolerance), else the export fails in one line and nothing is written.
``python -m export.integer_onnx`` compares a written file with the reference on a dataset's split.

**Exactness.** Past the host layers' float front, every operation is an integer ONNX op except the
isqrt's float estimate, which integer comparisons correct (exact). Two traps of the export, avoided in
the shared steps (export/integer_reference.py): indexing with a 0-d tensor is traced as a Python number
(frozen at the traced example's value), hence ``index_select``; onnxruntime's int64 ReduceMax (1.23)
gives a wrong maximum for some vectors with values beyond 2^31 (the sentence before its shift), hence the
bit length by comparisons and sums (this, not a division, put SFG's cosine one unit off).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from export import fixed_point as fp
from export.host_input import apply_host_input, host_arrays
from export.integer_reference import IntegerReference, IntegerSteps
from spiking.config import decoder_read_steps
from spiking.populations import populations, readout_convolutions
from vtg.errors import UserError
from vtg.json_file import to_json

OPSET = 17
INTEGER_OUTPUTS = ("foreground.sum", "boundary.sum", "cosine", "gate")
TRACE_SIZES = (10, 5)  # clips, query tokens of the traced example
CHECK_SIZES = ((7, 3), (13, 6))  # other sizes for the check, so that a shape frozen by the trace is caught


def population_names(architecture: dict[str, Any]) -> list[str]:
    """The neuron populations in the reference's order of first spikes (spiking/populations.py's)."""
    return [population.name for population in populations(architecture)]


class IntegerModel(IntegerSteps, nn.Module):
    """``forward(video, text)`` -> (*INTEGER_OUTPUTS, *spikes): the integer reference's steps
    (:class:`export.integer_reference.IntegerSteps`) over Tc steps, with the weights as narrow buffers."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        scalars: dict[str, Any],
        architecture: dict[str, Any],
        tc: int,
        host_input: nn.ModuleDict | None = None,
    ):
        """``host_input``: the model's host input layers in float64 (``video``, ``text``), for a model with
        ``input_mlp``: the graph then takes real features and computes them and the quantisation first."""
        super().__init__()
        self.c, self.arch, self.tc = scalars, architecture, tc
        self.host_input = host_input
        for name, array in arrays.items():
            array = np.asarray(array, np.int64)
            dtype = torch.int8 if name.endswith(".sign") else torch.int32  # 1-bit weights: int8
            info = torch.iinfo(dtype)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise UserError(f"integer weights '{name}' do not fit {dtype}")
            self.register_buffer(name.replace(".", "__"), torch.from_numpy(array).to(dtype))
        self.population_names = population_names(architecture)

    def weight(self, key: str) -> torch.Tensor:
        return getattr(self, key.replace(".", "__")).long()  # a Cast in the graph: the initialiser stays narrow

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.host_input is not None:  # real features (L, D_m): the host's float64 layers, then X = rint(x 2^12)
            video = fp.quantize_features(self.host_input["video"](video))
            text = fp.quantize_features(self.host_input["text"](text))
        run = self.run_integer(video, text, self.tc)
        spikes = [run.spikes[name] for name in self.population_names]
        return (run.foreground_sum, run.boundary_sum, run.cosine, run.gate, *spikes)


def parameters(model: Any, max_clips: int) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
    """(arrays, scalars, architecture) of the integer model, as a Lava bundle's fixed part holds them."""
    from export.lava_target import architecture

    arrays, scalars = fp.integer_parameters(model, max_clips)
    return arrays, scalars, architecture(model, max_clips)


class Features:
    """A query's real features -> what the graph takes (its feed) and what the integer steps take."""

    def __init__(self, model: Any):
        self.layers = model.config.host_input_layers
        self.host = host_arrays(model)  # float64 copies of the host input layers' weights (none without)

    def feed(self, video: np.ndarray, text: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's inputs: the real features with host input layers, else their quantisation."""
        if self.layers:
            return {"video": np.asarray(video, np.float64), "text": np.asarray(text, np.float64)}
        return {"video": fp.quantize_features(video), "text": fp.quantize_features(text)}

    def network(self, video: np.ndarray, text: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The integer reference's inputs: the host layers' output (float64, as a deployment's host computes
        it, export/host_input.py), quantised."""
        if self.layers:
            video = apply_host_input(self.host, self.layers, "video", video)
            text = apply_host_input(self.host, self.layers, "text", text)
        return torch.from_numpy(fp.quantize_features(video)), torch.from_numpy(fp.quantize_features(text))


def random_queries(model: Any, sizes: Sequence[tuple[int, int]], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Unit-norm random real features (video (Lv, Dv), text (Lq, Dt)), one pair per size."""
    generator = np.random.default_rng(seed)

    def unit(length: int, dim: int) -> np.ndarray:
        x = generator.standard_normal((length, dim))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    inputs = model.inputs
    return [(unit(lv, inputs.video.in_features), unit(lq, inputs.text.in_features)) for lv, lq in sizes]


def to_onnx(module: IntegerModel, example: dict[str, np.ndarray], metadata: dict[str, str]) -> Any:
    import onnx

    outputs = [*INTEGER_OUTPUTS, *(f"spikes.{name}" for name in module.population_names)]
    axes = {"video": {0: "clips"}, "text": {0: "query"}, "foreground.sum": {0: "clips"}, "boundary.sum": {0: "clips"}}
    axes.update({"cosine": {0: "clips"}, "gate": {0: "clips"}})
    axes.update(
        {
            f"spikes.{name}": {1: "clips" if name.startswith("decoder.") else "tokens"}
            for name in module.population_names
        }
    )
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the trace warns where a tensor's size is read as a Python number (kernel widths, table sizes): constants
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (torch.from_numpy(example["video"]), torch.from_numpy(example["text"])),
            buffer,
            opset_version=OPSET,
            input_names=["video", "text"],
            output_names=outputs,
            dynamic_axes=axes,
            do_constant_folding=False,  # folding would turn the int8 weights' Cast into int64 initialisers
        )
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return proto


def mismatches(
    session: Any,
    reference: IntegerReference,
    features: Features,
    names: list[str],
    video: np.ndarray,
    text: np.ndarray,
    tc: int,
) -> dict[str, int]:
    """Number of differing spikes (``spikes``) and integer outputs (``outputs``) of one query's real features."""
    ours = dict(zip([o.name for o in session.get_outputs()], session.run(None, features.feed(video, text))))
    run = reference.run_integer(*features.network(video, text), tc)
    theirs = dict(zip(INTEGER_OUTPUTS, (run.foreground_sum, run.boundary_sum, run.cosine, run.gate)))
    spikes = sum(int((ours[f"spikes.{n}"] != run.spikes[n].numpy()).sum()) for n in names)
    outputs = sum(int((np.asarray(ours[k]) != theirs[k].numpy()).sum()) for k in INTEGER_OUTPUTS)
    return {"spikes": spikes, "outputs": outputs, "spikes_compared": sum(ours[f"spikes.{n}"].size for n in names)}


def export(model: Any, checkpoint: dict[str, Any], args: argparse.Namespace) -> Path:
    """Write the checked integer ONNX graph of a 1-bit NF ``model`` to ``args.out``; return its path."""
    import onnx
    import onnxruntime

    from export.lava_target import DEFAULT_MAX_CLIPS
    from vtg.atomic import atomic_write

    variant = model.config.variant
    if variant != "1bit_nf":
        raise UserError(
            f"{args.checkpoint}: variant '{variant}' has no integer model (its weights are not 1-bit); "
            "--integer exports '1bit_nf' models"
        )
    tc = args.tc if args.tc is not None else model.config.eval_tc
    vtg = checkpoint.get("vtg", {}) if isinstance(checkpoint, dict) else {}
    max_clips = args.max_clips or vtg.get("train_config", {}).get("max_video_len") or DEFAULT_MAX_CLIPS
    arrays, scalars, architecture = parameters(model.double().eval(), max_clips)
    features = Features(model)
    host = None
    if features.layers:  # float64 copies of the model's own host layers (LayerNorm, Linear, ReLU)
        host = nn.ModuleDict({m: copy.deepcopy(getattr(model.inputs, f"{m}_host")) for m in ("video", "text")})
    module = IntegerModel(arrays, scalars, architecture, tc, host)
    sizes = [(min(lv, max_clips), lq) for lv, lq in (TRACE_SIZES, *CHECK_SIZES)]
    example, *checks = random_queries(model, sizes, seed=0)
    inputs = (
        "float64 real features (L, D_m): the graph computes the host input layers and X = rint(x 2^12) clipped to "
        "16 bits first"
        if features.layers
        else "int64 X = rint(x 2^12) clipped to 16 bits"
    )
    readout = {head: scalars[f"{key}.readout_scale"] for head, key in readout_convolutions(architecture).items()}
    read_steps = decoder_read_steps(architecture["decoder_warmup"], tc)
    metadata = {
        "vtg.format": "vtg-onnx-integer",
        "vtg.format_version": "2",
        "vtg.tc": str(tc),
        "vtg.decoder_read_steps": str(read_steps),
        "vtg.max_clips": str(max_clips),
        "vtg.readout_scale": json.dumps(readout),
        "vtg.fixed_point": json.dumps(fp.FORMATS),
        "vtg.inputs": inputs,
        "vtg.usage": (
            "one query, real tokens only, Lv <= max_clips; "
            "f = foreground.sum * readout_scale.f / decoder_read_steps, "
            "d = softplus(boundary.sum * readout_scale.d / decoder_read_steps), saliency = cosine / 2^16; "
            "highlight score (vtg predict's) = sigmoid(f) + gate / 2^12"
        ),
    }
    proto = to_onnx(module, features.feed(*example), metadata)
    onnx.checker.check_model(proto)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    reference = IntegerReference(arrays, scalars, architecture)
    total = {"spikes": 0, "outputs": 0, "spikes_compared": 0}
    for video, text in checks:
        for key, value in mismatches(session, reference, features, module.population_names, video, text, tc).items():
            total[key] += value
    print(
        f"onnxruntime vs the PyTorch integer reference, {tc} steps, {len(checks)} random queries: "
        f"{total['spikes']} of {total['spikes_compared']} spikes and {total['outputs']} integer outputs differ",
        file=sys.stderr,  # stdout is the command's result (one JSON object with --json)
    )
    out = Path(args.out)
    if total["spikes"] or total["outputs"]:
        raise UserError(f"{out}: the integer graph differs from the integer reference ({total}); not written")
    atomic_write(out, lambda file: file.write(proto.SerializeToString()))
    return out


def check_split(onnx_path: Path, checkpoint: Path, data: str, split: str, limit: int | None) -> dict[str, int]:
    """Compare a written integer graph with the integer reference of ``checkpoint`` on a dataset's split."""
    import onnx
    import onnxruntime

    from vtg.checkpoint import METADATA_KEY, check_dims, load_model
    from vtg.data.dataset import VTGDataset
    from vtg.evaluation import nonempty

    if not Path(onnx_path).is_file():
        raise UserError(f"option --onnx: {onnx_path} is not a file")
    if limit is not None and limit < 1:
        raise UserError(f"option --limit: expected at least 1, got {limit}")
    not_ours = f"{onnx_path}: not an integer graph written by vtg-export --target onnx --integer"
    try:
        proto = onnx.load(str(onnx_path))
    except Exception as error:  # protobuf's DecodeError and the like: the file is not an ONNX model
        raise UserError(f"{not_ours} ({type(error).__name__})") from None
    meta = {prop.key: prop.value for prop in proto.metadata_props}
    if meta.get("vtg.format") != "vtg-onnx-integer" or not {"vtg.tc", "vtg.max_clips"} <= meta.keys():
        raise UserError(not_ours)
    sizes = {key: meta[key] for key in ("vtg.tc", "vtg.max_clips")}
    for key, text in sizes.items():
        if not re.fullmatch(r"[1-9][0-9]{0,8}", text):  # ASCII digits only: int() refuses "²", which isdigit takes
            raise UserError(f"{onnx_path}: metadata '{key}' is {text!r}, expected a positive integer")
    tc, max_clips = int(sizes["vtg.tc"]), int(sizes["vtg.max_clips"])
    model, saved = load_model(checkpoint)
    name = saved[METADATA_KEY]["model_name"]
    if name != "spikingvtg":
        raise UserError(f"option --checkpoint: {checkpoint} is a '{name}' model, not SpikingVTG")
    if model.config.variant != "1bit_nf":
        raise UserError(f"{checkpoint}: variant '{model.config.variant}' has no integer model")
    arrays, scalars, architecture = parameters(model.double().eval(), max_clips)
    reference = IntegerReference(arrays, scalars, architecture)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    dataset = nonempty(VTGDataset(data, split, max_video_len=max_clips, require_labels=False))
    check_dims(checkpoint, saved[METADATA_KEY]["dims"], data, dataset.dims)
    features, names = Features(model), population_names(architecture)
    # the graph's inputs as this checkpoint's export makes them (onnxruntime's own error is a traceback)
    kind = "tensor(double)" if features.layers else "tensor(int64)"
    widths = {"video": model.inputs.video.in_features, "text": model.inputs.text.in_features}
    for given in session.get_inputs():
        if given.name in widths and (given.type != kind or given.shape[-1] != widths[given.name]):
            raise UserError(
                f"{onnx_path}: input '{given.name}' is {given.type} of width {given.shape[-1]}, where {checkpoint}'s "
                f"graph takes {kind} of width {widths[given.name]} (was it exported from this checkpoint?)"
            )
    total = {"queries": 0, "spikes": 0, "outputs": 0, "spikes_compared": 0}
    for i in range(len(dataset) if limit is None else min(limit, len(dataset))):
        item = dataset[i]
        video, text = item["video"][:, -1].double().numpy(), item["text"][:, -1].double().numpy()  # the last level
        for key, value in mismatches(session, reference, features, names, video, text, tc).items():
            total[key] += value
        total["queries"] += 1
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare an integer ONNX graph with the integer reference.")
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True, help="the checkpoint the graph was exported from")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    try:
        total = check_split(args.onnx, args.checkpoint, args.data, args.split, args.limit)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(to_json(total))
    return 0 if total["spikes"] == 0 and total["outputs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
