"""``vtg-export --target onnx --integer``: the integer model of 1-bit NF SpikingVTG as one ONNX graph.

    vtg-export --target onnx --integer --checkpoint C --out model.onnx [--tc N] [--max-clips N]
    python -m export.integer_onnx --onnx model.onnx --checkpoint C --data DIR [--split val] [--limit N]

The graph computes what a fixed-point deployment computes (the integer model of export/fixed_point.py,
the weights and scalars of a Lava bundle's ``fixed/`` part, :func:`export.fixed_point.integer_parameters`),
in the arithmetic of :class:`export.integer_reference.IntegerReference`, operation for operation:
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
                                             Lv <= the exported max clips (the clip positions' table)
    outputs  foreground.sum (Lv, 1), boundary.sum (Lv, 2)   the read-out currents summed over Tc
             cosine (Lv,) SFG's score (units 2^-16), gate (Lv,) its min-max gate (units 2^-12)
             spikes.<population> (Tc, tokens, width) int8, export/model_map.py's populations

The host reads out f = foreground.sum * s_f / Tc and d = softplus(boundary.sum * s_d / Tc) with the
read-out scales in the file's metadata (``vtg.readout_scale``), as for a Lava run.

**Check.** Before writing, the graph is run with onnxruntime on random features of two sizes other
than the traced one and compared with the PyTorch integer reference: every spike and every integer
output must be equal (no tolerance), else the export fails in one line and nothing is written.
``python -m export.integer_onnx`` compares a written file with the reference on a dataset's split.

**Exactness.** Every operation is an integer ONNX op except the isqrt's float estimate, which integer
comparisons correct (exact). Two traps of the export, avoided: indexing with a 0-d tensor is traced as a
Python number (frozen at the traced example's value), hence ``index_select``; onnxruntime's int64
ReduceMax (1.23) gives a wrong maximum for some vectors with values beyond 2^31 (the sentence before its
shift), hence the bit length by comparisons and sums (this, not a division, put SFG's cosine one unit off).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from export import fixed_point as fp
from export.integer_reference import IntegerReference
from export.model_map import ENCODER_POPULATIONS
from vtg.errors import UserError

OPSET = 17
INTEGER_OUTPUTS = ("foreground.sum", "boundary.sum", "cosine", "gate")
TRACE_SIZES = (10, 5)  # clips, query tokens of the traced example
CHECK_SIZES = ((7, 3), (13, 6))  # other sizes for the check, so that a shape frozen by the trace is caught
_POWERS = [1 << k for k in range(63)]  # 2^k, k = 0 .. 62: bit lengths and shifts by a computed amount


def _floordiv(a: torch.Tensor, b: Any) -> torch.Tensor:
    """floor(a / b) of integers, exactly: ONNX's integer Div truncates, and torch exports a floor division
    through floating point, which rounds products beyond 2^53 (SFG's cosine)."""
    q = torch.div(a, b, rounding_mode="trunc")
    r = a - q * b
    negative = b < 0 if isinstance(b, torch.Tensor) else torch.tensor(b < 0)  # as_tensor(b) would be frozen
    return q - ((r != 0) & ((r < 0) != negative)).long()


def _rshift(x: torch.Tensor, n: int) -> torch.Tensor:
    """x / 2^n rounded half up; a floor division, because ONNX exports ``>>`` as a truncating Div."""
    return _floordiv(x + (1 << (n - 1)), 1 << n)


def _rdiv(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _floordiv(2 * a + b, 2 * b)


def _isqrt(n: torch.Tensor) -> torch.Tensor:
    root = torch.floor(torch.sqrt(n.double())).long()
    root = root - (root * root > n).long()
    return root + ((root + 1) * (root + 1) <= n).long()


def _relu(x: torch.Tensor) -> torch.Tensor:
    return x * (x > 0).long()  # exact; the trace freezes the shape of a zeros_like


def _shift_to_bits(x: torch.Tensor, bits: int) -> torch.Tensor:
    """The reference's shift_to_bits with the shift computed in the graph: bit_length(max|x|) counts the
    powers 2^k <= max|x|; a shift n <= 0 leaves x unchanged (half 0, divisor 1)."""
    powers = torch.tensor(_POWERS)
    # no ReduceMax: onnxruntime's (1.23) int64 ReduceMax returns a wrong maximum for some vectors with
    # values beyond 2^31 (the sentence's sum; the shift came out one short, the cosine off by a unit);
    # bit_length(max|x|) = the number of k with some |x_i| >= 2^k, in comparisons and integer sums
    reached = ((x.abs().reshape(-1, 1) >= powers).long().sum(0) > 0).long()  # (63,)
    excess = reached.sum() - bits
    n = excess.clamp(min=0).reshape(1)
    # index_select, a Gather of the graph: indexing with a 0-d tensor (powers[n]) is traced as a Python
    # int, which froze the traced example's shift into the graph (the sentence off by a power of two)
    half = powers.index_select(0, (n - 1).clamp(min=0)) * (n > 0).long()
    return _floordiv(x + half, powers.index_select(0, n))


def populations(architecture: dict[str, Any]) -> list[str]:
    """The neuron populations in the reference's order of first spikes (export/model_map.py's names)."""
    names = ["input"]
    for i in range(architecture["num_layers"]):
        names += [f"layer{i}.{part}" for part in ENCODER_POPULATIONS]
    for head in ("f", "d"):
        names += [f"decoder.{head}.{j}" for j in range(architecture[f"{head}_layers"] - 1)]
    return names


class IntegerModel(nn.Module):
    """``forward(video, text)`` -> (*INTEGER_OUTPUTS, *spikes): the integer reference's ``run`` over Tc steps,
    traceable (no Python branch or number taken from the data) and with the weights as narrow buffers."""

    def __init__(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], architecture: dict[str, Any], tc: int):
        super().__init__()
        self.c, self.arch, self.tc = scalars, architecture, tc
        for name, array in arrays.items():
            array = np.asarray(array, np.int64)
            dtype = torch.int8 if name.endswith(".sign") else torch.int32  # 1-bit weights: int8
            info = torch.iinfo(dtype)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise UserError(f"integer weights '{name}' do not fit {dtype}")
            self.register_buffer(name.replace(".", "__"), torch.from_numpy(array).to(dtype))
        self.population_names = populations(architecture)

    def w(self, key: str) -> torch.Tensor:
        return getattr(self, key.replace(".", "__")).long()  # a Cast in the graph: the initialiser stays narrow

    def _lif(self, name: str, current: torch.Tensor, gamma: int) -> torch.Tensor:
        theta, fire = self.c[f"{name}.threshold"], self.c[f"{name}.fire"]
        u = self.u.get(name, current * 0)
        u = torch.clamp(_rshift(gamma * u, fp.LEAK_BITS) + current, -fp.STATE_MAX, fp.STATE_MAX)
        s = (u >= fire).long() - (u <= -fire).long()
        self.u[name] = u - theta * s
        self.spikes.setdefault(name, []).append(s.to(torch.int8))
        return s

    def _linear(self, x: torch.Tensor, key: str) -> torch.Tensor:
        return (x @ self.w(f"{key}.sign").T) * (1 << fp.MEMBRANE_FRAC_BITS) + self.w(f"{key}.bias")

    def _conv(self, h: torch.Tensor, key: str) -> torch.Tensor:
        sign = self.w(f"{key}.sign")  # (C_out, C_in, k)
        k = sign.shape[2]
        padded = torch.nn.functional.pad(h.T, (k // 2, k // 2)).T  # (Lv + k - 1, C_in)
        acc = sum(padded[j : j + h.shape[0]] @ sign[:, :, j].T for j in range(k))  # (Lv, C_out)
        return acc * (1 << fp.MEMBRANE_FRAC_BITS) + self.w(f"{key}.bias")

    def _gelu(self, y: torch.Tensor, key: str) -> torch.Tensor:
        table, shift, offset = self.w(f"{key}.gelu"), self.c[f"{key}.gelu_shift"], self.c[f"{key}.gelu_offset"]
        index = _floordiv(y + offset, 1 << shift).clamp(0, table.shape[0] - 1)
        return torch.where(y >= offset, y, torch.where(y >= -offset, table[index], y * 0))

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        key, c, g = f"layer{i}", self.c, self.c["leak"]
        heads = self.arch["num_heads"]
        q = self._linear(x, f"{key}.q")
        k = self._lif(f"{key}.k", self._linear(x, f"{key}.k"), g)
        v = self._lif(f"{key}.v", self._linear(x, f"{key}.v"), g)
        split = [t.unflatten(1, (heads, -1)).transpose(0, 1) for t in (q, k, v)]  # (H, L, dh)
        scores = _relu(split[0] @ split[1].transpose(1, 2))  # (H, L, L)
        context = (scores @ split[2]).transpose(0, 1).flatten(1)  # (L, D)
        length = torch.ones_like(x[:, 0]).sum()  # L as a tensor: the query's length varies
        scale = _rdiv(torch.tensor(c[f"{key}.q.attention_scale"]), length)
        attn = self._lif(f"{key}.attn", _rshift(context * scale, fp.ATTENTION_SHIFT), g)
        so = self._lif(f"{key}.so", self._linear(attn, f"{key}.so") + x * c[f"{key}.so.residual"], g)
        y = self._linear(so, f"{key}.int")
        y = self._gelu(y, f"{key}.int") if self.arch["activation"] == "gelu" else _relu(y)
        inter = self._lif(f"{key}.int", y, g)
        return self._lif(f"{key}.out", self._linear(inter, f"{key}.out") + so * c[f"{key}.out.residual"], g)

    def _sfg(self, trace: torch.Tensor, norm: int, sentence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        eps = (norm * self.c["sfg.eps"] + (1 << (fp.LEAK_BITS - 1))) >> fp.LEAK_BITS  # Python ints: data-free
        norms = _isqrt((trace * trace).sum(1) + eps * eps) * _isqrt((sentence * sentence).sum())  # (Lv,)
        dots = (trace @ sentence) * (1 << fp.COSINE_FRAC_BITS)
        cosine = torch.where(norms > 0, _rdiv(dots, norms.clamp(min=1)), dots * 0)
        one = cosine * 0 + (1 << fp.GATE_FRAC_BITS)
        if not self.arch["sfg"]:
            return cosine, one
        low, high = cosine.min(), cosine.max()
        spread = _rdiv((cosine - low) * (1 << fp.GATE_FRAC_BITS), (high - low).clamp(min=1))
        return cosine, torch.where(high == low, one, spread)

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c, f = self.c, fp.MEMBRANE_FRAC_BITS
        lv = video.shape[0]
        shift = fp.INPUT_SCALE_FRAC_BITS + fp.FEATURE_FRAC_BITS - f
        v = _rshift((video @ self.w("input.video.sign").T) * c["input.video.scale"], shift)
        v = v + self.w("input.video.bias")[:lv]
        q = _rshift((text @ self.w("input.text.sign").T) * c["input.text.scale"], shift) + self.w("input.text.bias")
        one = 1 << (fp.MEMBRANE_FRAC_BITS + fp.POOL_FRAC_BITS)
        weights = _shift_to_bits(_relu(q @ self.w("sfg.pool")) + one, fp.LOGIT_BITS)  # (Lq,)
        sentence = _shift_to_bits((weights[:, None] * q).sum(0), fp.SENTENCE_BITS)  # (D,)

        self.u, self.spikes = {}, {}
        gate = v[:, 0] * 0 + fp.gate_units(self.arch["initial_gate"])  # (Lv,) the first step's gate g0
        trace, norm = v * 0, 0
        readout: dict[str, Any] = {"f": 0, "d": 0}
        for _ in range(self.tc):
            current = torch.cat([_rshift(v * gate[:, None], fp.GATE_FRAC_BITS), q])  # (L, D)
            x = self._lif("input", current, c["leak"])
            for i in range(self.arch["num_layers"]):
                x = self._layer(i, x)
            trace = _rshift(c["leak"] * trace, fp.LEAK_BITS) + x[:lv] * (1 << fp.TRACE_FRAC_BITS)
            norm = (c["leak"] * norm + (1 << (fp.LEAK_BITS - 1))) >> fp.LEAK_BITS
            norm += 1 << fp.TRACE_FRAC_BITS
            cosine, gate = self._sfg(trace, norm, sentence)
            for head in ("f", "d"):
                h = x[:lv]
                layers = self.arch[f"{head}_layers"]
                for j in range(layers - 1):
                    key = f"decoder.{head}.{j}"
                    h = self._lif(key, self._conv(h, key), 1 << fp.LEAK_BITS)
                readout[head] = readout[head] + self._conv(h, f"decoder.{head}.{layers - 1}")
        spikes = [torch.stack(self.spikes[name]) for name in self.population_names]
        return (readout["f"], readout["d"], cosine, gate, *spikes)


def parameters(model: Any, max_clips: int) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
    """(arrays, scalars, architecture) of the integer model, as a Lava bundle's fixed part holds them."""
    from export.lava_target import architecture

    arrays, scalars = fp.integer_parameters(model, max_clips)
    return arrays, scalars, architecture(model, max_clips)


def random_queries(model: Any, sizes: Sequence[tuple[int, int]], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Quantised unit-norm random features (video (Lv, Dv), text (Lq, Dt)) int64, one pair per size."""
    generator = np.random.default_rng(seed)

    def unit(length: int, dim: int) -> np.ndarray:
        x = generator.standard_normal((length, dim))
        return fp.quantize_features(x / np.linalg.norm(x, axis=1, keepdims=True))

    inputs = model.inputs
    return [(unit(lv, inputs.video.in_features), unit(lq, inputs.text.in_features)) for lv, lq in sizes]


def to_onnx(module: IntegerModel, example: tuple[np.ndarray, np.ndarray], metadata: dict[str, str]) -> Any:
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
            tuple(torch.from_numpy(a) for a in example),
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
    session: Any, reference: IntegerReference, names: list[str], video: np.ndarray, text: np.ndarray, tc: int
) -> dict[str, int]:
    """Number of differing spikes (``spikes``) and integer outputs (``outputs``) of one query."""
    ours = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"video": video, "text": text})))
    theirs = reference.run_integer(video, text, tc)
    spikes = sum(int((ours[f"spikes.{n}"] != theirs["spikes"][n].numpy()).sum()) for n in names)
    outputs = sum(int((np.asarray(ours[k]) != theirs[k].numpy()).sum()) for k in INTEGER_OUTPUTS)
    return {"spikes": spikes, "outputs": outputs, "spikes_compared": sum(ours[f"spikes.{n}"].size for n in names)}


class _Reference(IntegerReference):
    """The PyTorch integer reference, returning its integer outputs before the host's read-out."""

    def run_integer(self, video: np.ndarray, text: np.ndarray, tc: int) -> dict[str, Any]:
        captured: dict[str, Any] = {}
        conv, sfg = self._conv, self._sfg
        f_key = f"decoder.f.{self.arch['f_layers'] - 1}"
        d_key = f"decoder.d.{self.arch['d_layers'] - 1}"
        sums = {f_key: 0, d_key: 0}

        def counted(h, key):
            out = conv(h, key)
            if key in sums:
                sums[key] = sums[key] + out
            return out

        def scored(*args):
            captured["cosine"], captured["gate"] = sfg(*args)
            return captured["cosine"], captured["gate"]

        self._conv, self._sfg = counted, scored
        try:
            run = self.run(
                video.astype(np.float64) / 2**fp.FEATURE_FRAC_BITS,
                text.astype(np.float64) / 2**fp.FEATURE_FRAC_BITS,
                tc,
            )
        finally:
            del self._conv, self._sfg
        return {"foreground.sum": sums[f_key], "boundary.sum": sums[d_key], **captured, "spikes": run.spikes}


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
    if model.config.rate_driven:  # its currents come from each step's spikes: it would hold another model
        raise UserError(
            f"{args.checkpoint}: field 'model.rate_driven' is true, which the integer onnx graph does not implement "
            "(export/LAVA.md); the lava target and the float onnx step model do"
        )
    if model.config.decoder_warmup:
        raise UserError(
            f"{args.checkpoint}: field 'model.decoder_warmup' is {model.config.decoder_warmup}: the integer graph "
            "reads the decoders from the first step; --target lava and the float onnx graph carry the warm-up"
        )
    if model.config.host_input_layers:
        raise UserError(
            f"{args.checkpoint}: field 'model.input_mlp' is true: the integer graph takes quantised features, and "
            "its host input layers are carried by --target lava, nir and the float onnx graph, not by --integer"
        )
    tc = args.tc if args.tc is not None else model.config.eval_tc
    vtg = checkpoint.get("vtg", {}) if isinstance(checkpoint, dict) else {}
    max_clips = args.max_clips or vtg.get("train_config", {}).get("max_video_len") or DEFAULT_MAX_CLIPS
    arrays, scalars, architecture = parameters(model.double().eval(), max_clips)
    module = IntegerModel(arrays, scalars, architecture, tc)
    sizes = [(min(lv, max_clips), lq) for lv, lq in (TRACE_SIZES, *CHECK_SIZES)]
    example, *checks = random_queries(model, sizes, seed=0)
    readout = {h: scalars[f"decoder.{h}.{architecture[f'{h}_layers'] - 1}.readout_scale"] for h in ("f", "d")}
    metadata = {
        "vtg.format": "vtg-onnx-integer",
        "vtg.format_version": "1",
        "vtg.tc": str(tc),
        "vtg.max_clips": str(max_clips),
        "vtg.readout_scale": json.dumps(readout),
        "vtg.fixed_point": json.dumps(fp.FORMATS),
        "vtg.usage": (
            "one query, real tokens only: X = rint(x 2^12) clipped to 16 bits, Lv <= max_clips; "
            "f = foreground.sum * readout_scale.f / tc, d = softplus(boundary.sum * readout_scale.d / tc), "
            "saliency = cosine / 2^16"
        ),
    }
    proto = to_onnx(module, example, metadata)
    onnx.checker.check_model(proto)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    reference = _Reference(arrays, scalars, architecture)
    total = {"spikes": 0, "outputs": 0, "spikes_compared": 0}
    for video, text in checks:
        for key, value in mismatches(session, reference, module.population_names, video, text, tc).items():
            total[key] += value
    print(
        f"onnxruntime vs the PyTorch integer reference, {tc} steps, {len(checks)} random queries: "
        f"{total['spikes']} of {total['spikes_compared']} spikes and {total['outputs']} integer outputs differ"
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

    from vtg.checkpoint import load_model
    from vtg.data.dataset import VTGDataset

    proto = onnx.load(str(onnx_path))
    meta = {prop.key: prop.value for prop in proto.metadata_props}
    if meta.get("vtg.format") != "vtg-onnx-integer":
        raise UserError(f"{onnx_path}: not an integer graph written by vtg-export --target onnx --integer")
    tc, max_clips = int(meta["vtg.tc"]), int(meta["vtg.max_clips"])
    model, _ = load_model(checkpoint)
    if model.config.variant != "1bit_nf":
        raise UserError(f"{checkpoint}: variant '{model.config.variant}' has no integer model")
    arrays, scalars, architecture = parameters(model.double().eval(), max_clips)
    reference = _Reference(arrays, scalars, architecture)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    dataset = VTGDataset(data, split, max_video_len=max_clips, require_labels=False)
    total = {"queries": 0, "spikes": 0, "outputs": 0, "spikes_compared": 0}
    for i in range(len(dataset) if limit is None else min(limit, len(dataset))):
        item = dataset[i]
        video = fp.quantize_features(item["video"][:, -1].double().numpy())
        text = fp.quantize_features(item["text"][:, -1].double().numpy())
        for key, value in mismatches(session, reference, populations(architecture), video, text, tc).items():
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
    print(json.dumps(total))
    return 0 if total["spikes"] == 0 and total["outputs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
