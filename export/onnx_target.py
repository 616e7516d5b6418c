"""``vtg-export --target onnx``: SpikingVTG as an ONNX *step model*, checked against PyTorch with onnxruntime.

    vtg-export --target onnx --checkpoint C --out model.onnx [--tc N]

**Why a step model, not the network unrolled over Tc.** Neuromorphic and edge runtimes run a
spiking network one timestep at a time and keep its state between calls; they choose Tc at run
time (SpikingVTG's energy-accuracy trade-off is exactly the choice of Tc, paper Fig. 4), may stop
early, and never hold Tc copies of the graph. The graph is one call of
:class:`export.step_module.StepModule` (see there for every input, state and output): the features
and masks are the same at every call, the state (membrane potentials of every population, the ASR
traces the model reads, the gate, the decoders' warm-up steps left, the sums of the decoders' read-outs,
the step count, the rate-driven currents' state) goes in and comes back, and the outputs after call t
are the model's outputs at Tc = t (with a decoders' warm-up, for the Tc the state at rest was made for:
its warm-up steps k depend on Tc). The unrolled graph would be
simpler to check, but the check below covers the step model's contract step by step. The input
projections are recomputed at every call (one extra linear layer per step) so that the file is one
self-contained graph.

The graph is exported with ``torch.onnx.export`` (opset 17) with dynamic axes ``batch``, ``clips``
(Lv), ``query`` (Lq) and ``tokens`` (L = Lv + Lq), from a float32 copy of the model in which every
1-bit Brevitas layer is a plain layer holding its effective weights beta sgn(W - mean W) (+-beta).
The file's ``metadata_props`` name the state tensors (``vtg.state``: name -> initial value), the
default Tc (``vtg.tc``), the decoders' warm-up share (``vtg.decoder_warmup``), the loop a runtime runs
(``vtg.usage``) and the layout's version (``vtg.format_version`` 2: the warm-up and rate-driven state).

**Check.** The written graph passes ``onnx.checker`` and is run with onnxruntime on random features
of other sizes than the ones it was traced with (so that a shape frozen by the trace is caught),
with padded clips and tokens, for Tc steps. Each step is given the state PyTorch reached, so the
check compares the exported function itself and one disagreement cannot snowball over later steps.
The largest absolute differences of the outputs (f logits, boundaries, saliency), of the next state
and of the spikes are printed. **Tolerance**: 1e-4 on the real-valued outputs and state (float32
sums in another order differ by about 1e-6 here); spikes must agree exactly. A membrane potential
within float32 rounding of the firing point +-r Vth (r = ``model.fire_ratio``) may fire in one
runtime and not the other, which this check reports as a failure rather than hides. Beyond the
tolerance the export fails with a
:class:`~vtg.errors.UserError` (exit 2) and nothing is written.

Only SpikingVTG checkpoints are exported (any variant: base's softmax and LayerNorm are ordinary
ONNX operators); another model is refused with one line.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from export.step_module import FEATURE_INPUTS, OUTPUTS, StepModule
from vtg.atomic import atomic_write
from vtg.errors import UserError

OPSET = 17
TOLERANCE = 1e-4
TRACE_SIZES = (2, 16, 8)  # batch, clips, query tokens of the example the graph is traced with
CHECK_SIZES = (3, 12, 6)  # other sizes for the check, so that a shape frozen by the trace is caught


def random_features(step: StepModule, batch: int, clips: int, query: int, seed: int) -> list[torch.Tensor]:
    """Unit-norm random features (like L2-normalised backbone features), the later samples padded.

    Returns [video (B, Lv, Dv), text (B, Lq, Dt), video_mask (B, Lv), text_mask (B, Lq)].
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = step.model.inputs

    def features(length: int, dim: int) -> torch.Tensor:
        x = torch.randn(batch, length, dim, generator=generator)  # (B, length, dim)
        return x / x.norm(dim=-1, keepdim=True)

    def mask(length: int) -> torch.Tensor:
        real = length - torch.arange(batch) * (length // 4)  # (B,) sample b has b * length/4 padded positions
        return torch.arange(length)[None, :] < real.clamp(min=1)[:, None]  # (B, length) bool

    return [
        features(clips, inputs.video.in_features),
        features(query, inputs.text.in_features),
        mask(clips),
        mask(query),
    ]


def io_names(step: StepModule) -> tuple[list[str], list[str]]:
    """The graph's input names and output names (a name can be both only once in ONNX, hence in./out.)."""
    inputs = [*FEATURE_INPUTS, *(f"state_in.{name}" for name in step.state_names)]
    outputs = [*OUTPUTS, *step.spike_names, *(f"state_out.{name}" for name in step.state_names)]
    return inputs, outputs


def dynamic_axes(step: StepModule) -> dict[str, dict[int, str]]:
    """Symbolic axes of every input and output (see export/step_module.py for the shapes)."""
    clip_major = {0: "batch", 1: "clips"}
    token_major = {0: "batch", 1: "tokens"}
    axes = {"video": clip_major, "video_mask": clip_major, "text": {0: "batch", 1: "query"}}
    axes["text_mask"] = axes["text"]
    axes.update({name: clip_major for name in OUTPUTS})
    per_population = {
        name: ({0: "batch", 2: "clips"} if name.startswith("decoder.") else token_major) for name in step.populations
    }
    for name, population_axes in per_population.items():
        axes[f"spikes.{name}"] = population_axes
        for side in ("state_in", "state_out"):
            axes[f"{side}.mem.{name}"] = population_axes
    for side in ("state_in", "state_out"):
        axes.update({f"{side}.rate.{name}.sum": token_major for name in step.rate_traces})
        axes.update({f"{side}.drive.{name}.previous": token_major for name in step.drives})
        axes.update({f"{side}.gate": clip_major, f"{side}.foreground.sum": clip_major})
        axes[f"{side}.boundary.sum"] = clip_major
    return axes


def metadata(step: StepModule, tc: int) -> dict[str, str]:
    """``metadata_props`` of the written file: how a runtime drives the step model."""
    config = step.model.config
    initial = {name: "0" for name in step.state_names}
    initial["gate"] = f"{config.initial_gate:g} x video_mask as float (the first step's gate)"
    w = repr(config.decoder_warmup)
    initial["warmup"] = f"min(ceil(round({w} Tc, 9)), Tc - 1): the decoders' warm-up steps at the Tc run"
    return {
        "vtg.format": "vtg-onnx-step",
        # 2: the decoders' warm-up (state warmup), the rate-driven currents (drive.*), rate.<population>.* for asr.*
        "vtg.format_version": "2",
        "vtg.variant": config.variant,
        "vtg.tc": str(tc),
        "vtg.decoder_warmup": repr(config.decoder_warmup),
        "vtg.tolerance": str(TOLERANCE),
        "vtg.state": json.dumps({f"state_in.{name}": initial[name] for name in step.state_names}),
        "vtg.usage": (
            "choose Tc; state = initial (for that Tc); repeat Tc times: "
            "outputs = run(video, text, video_mask, text_mask, state); state_in.X = outputs['state_out.X']; "
            "read foreground_logits, boundary, saliency after the last call; highlight score (vtg predict's) = "
            "sigmoid(foreground_logits) + state_out.gate (saliency is SFG's cosine, the gate its min-max)"
        ),
    }


def to_onnx(step: StepModule, tc: int) -> onnx.ModelProto:
    """Trace ``step`` at :data:`TRACE_SIZES` and return the ONNX model with its metadata."""
    example = random_features(step, *TRACE_SIZES, seed=0)
    state = step.initial_state(example[2], example[3], tc)
    inputs, outputs = io_names(step)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the trace warns where the model reads a tensor as a Python number: the feature-size check in
        # prepare() and the leak gamma, both constants of the model, so the warnings say nothing here
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            step,
            (*example, *state),
            buffer,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic_axes(step),
        )
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata(step, tc).items():
        proto.metadata_props.add(key=key, value=value)
    return proto


def compare(step: StepModule, proto: onnx.ModelProto, tc: int) -> dict[str, float]:
    """Largest |onnxruntime - PyTorch| over Tc steps, each step from PyTorch's state (see module docstring).

    Keys: each of :data:`OUTPUTS`, ``state`` (every next-state tensor) and ``spikes`` (every population).
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    features = random_features(step, *CHECK_SIZES, seed=1)
    state = step.initial_state(features[2], features[3], tc)
    input_names, _ = io_names(step)
    worst = dict.fromkeys([*OUTPUTS, "state", "spikes"], 0.0)
    for _ in range(tc):
        feed = {name: tensor.numpy() for name, tensor in zip(input_names, (*features, *state))}
        ours = session.run(None, feed)  # flat, in io_names order
        with torch.no_grad():
            theirs = [tensor.numpy() for tensor in step(*features, *state)]
        outputs, spikes, next_state = step.split(theirs)
        onnx_outputs, onnx_spikes, onnx_state = step.split(ours)
        for name in OUTPUTS:
            worst[name] = max(worst[name], _largest(outputs[name], onnx_outputs[name]))
        worst["state"] = max([worst["state"], *map(_largest, next_state, onnx_state)])
        worst["spikes"] = max([worst["spikes"], *(_largest(spikes[n], onnx_spikes[n]) for n in spikes)])
        state = [torch.from_numpy(array) for array in next_state]
    return worst


def _largest(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max(initial=0.0))


def export(model: Any, checkpoint: dict[str, Any], args: argparse.Namespace) -> Path:
    """Write the checked ONNX step model of ``model`` to ``args.out``; return its path."""
    name = checkpoint.get("vtg", {}).get("model_name") if isinstance(checkpoint, dict) else None
    if name != "spikingvtg":
        raise UserError(f"{args.checkpoint}: model '{name}' is not spiking; the onnx target exports spikingvtg models")
    tc = args.tc if args.tc is not None else model.config.eval_tc
    if tc < 1:
        raise UserError(f"option --tc: expected at least 1, got {tc}")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"option --out: {out} is a folder; the onnx target writes one file (e.g. model.onnx)")
    if getattr(args, "integer", False):  # the integer model of 1-bit NF, export/integer_onnx.py
        from export import integer_onnx

        return integer_onnx.export(model, checkpoint, args)
    if getattr(args, "max_clips", None) is not None:  # nothing to size: the step model's clip axis is dynamic
        raise UserError(
            "option --max-clips: the float ONNX step model takes videos of any length (only --integer uses it)"
        )
    step = StepModule(model)
    proto = to_onnx(step, tc)
    onnx.checker.check_model(proto)
    worst = compare(step, proto, tc)
    # on stderr: stdout is the command's result (one JSON object with --json)
    print(f"onnxruntime vs PyTorch, {tc} steps, largest |difference| (tolerance {TOLERANCE:g}, spikes exact):",
          file=sys.stderr)  # fmt: skip
    for key, value in worst.items():
        print(f"  {key:<18} {value:.3g}", file=sys.stderr)
    failed = [key for key, value in worst.items() if value > (0.0 if key == "spikes" else TOLERANCE)]
    if failed:
        details = ", ".join(f"{key} {worst[key]:.3g}" for key in failed)
        raise UserError(f"{out}: onnxruntime differs from PyTorch beyond the tolerance ({details}); not written")
    atomic_write(out, lambda file: file.write(proto.SerializeToString()))
    return out
