"""PyTorch integer reference of 1-bit NF SpikingVTG: the integer model of export/fixed_point.py on
int64 tensors, one query at a time (real tokens only, video first), in the order of
:meth:`spiking.model.SpikingVTG.step`. The Lava fixed-point simulation must match it spike for spike.

:class:`IntegerSteps` holds the arithmetic once: :class:`IntegerReference` runs it eagerly on a bundle's
weights, and ``vtg-export --target onnx --integer`` traces the same code into its graph
(export/integer_onnx.py), so the graph computes what the reference computes by construction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from export import fixed_point as fp
from spiking.activity import stack_steps
from spiking.config import decoder_read_steps, decoder_warmup_steps
from spiking.neuron import ternary_spikes
from spiking.populations import readout_convolutions

_POWERS = [1 << k for k in range(63)]  # 2^k, k = 0 .. 62: bit lengths and shifts by a computed amount


def floordiv(a: torch.Tensor, b: Any) -> torch.Tensor:
    """floor(a / b) of integers, exactly. Traced, a truncating division corrected by comparisons: ONNX's
    integer Div truncates, and torch exports a floor division through floating point, which rounds products
    beyond 2^53 (SFG's cosine). Run eagerly, torch's own integer floor division (the same numbers, faster)."""
    if not torch.jit.is_tracing():
        return torch.div(a, b, rounding_mode="floor")
    q = torch.div(a, b, rounding_mode="trunc")
    r = a - q * b
    negative = b < 0 if isinstance(b, torch.Tensor) else torch.tensor(b < 0)  # as_tensor(b) would be frozen
    return q - ((r != 0) & ((r < 0) != negative)).long()


def rshift(x: torch.Tensor, n: int) -> torch.Tensor:
    """x / 2^n rounded half up: floor((x + 2^(n-1)) / 2^n) (eagerly an arithmetic shift, the same number)."""
    if not torch.jit.is_tracing():
        return (x + (1 << (n - 1))) >> n
    return floordiv(x + (1 << (n - 1)), 1 << n)


def imatmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b of int64 tensors, exactly. Run eagerly, through float64 BLAS where every product and every partial
    sum is an integer below 2^53 in magnitude (max|a| max|b| n < 2^53 for an inner size n), which float64 holds
    exactly in any order of summation: CPUs without AVX-512 have no vector int64 multiplication, and torch's
    int64 matmul ran 4.5 times slower than the float64 one there (AMD EPYC, session 15). Traced, the int64
    MatMul itself, which the ONNX graph keeps."""
    if torch.jit.is_tracing():
        return a @ b
    if not a.numel() or not b.numel():
        return a @ b
    bound = a.shape[-1]
    for x in (a, b):
        low, high = torch.aminmax(x)
        bound *= max(-int(low), int(high))
    if bound >= 1 << 53:
        return a @ b
    return (a.double() @ b.double()).long()


def rdiv(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a / b rounded half up."""
    return floordiv(2 * a + b, 2 * b)


def isqrt(n: torch.Tensor) -> torch.Tensor:
    """floor(sqrt(n)) exactly: a float estimate corrected by integer comparisons."""
    root = torch.floor(torch.sqrt(n.double())).long()
    root = root - (root * root > n).long()
    return root + ((root + 1) * (root + 1) <= n).long()


def relu(x: torch.Tensor) -> torch.Tensor:
    return x * (x > 0).long()  # exact; a trace would freeze the shape of a zeros_like


def shift_to_bits(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x shifted right (rounded) until max |x| fits ``bits`` bits, the shift computed as tensors: bit_length(max
    |x|) is the number of powers 2^k <= max |x|; a shift n <= 0 leaves x unchanged (half 0, divisor 1)."""
    powers = torch.tensor(_POWERS)
    # no ReduceMax: onnxruntime's (1.23) int64 ReduceMax returns a wrong maximum for some vectors with
    # values beyond 2^31 (the sentence's sum; the shift came out one short, the cosine off by a unit);
    # bit_length(max|x|) = the number of k with some |x_i| >= 2^k, in comparisons and integer sums
    reached = ((x.abs().reshape(-1, 1) >= powers).long().sum(0) > 0).long()  # (63,)
    n = (reached.sum() - bits).clamp(min=0).reshape(1)
    # index_select, a Gather of the graph: indexing with a 0-d tensor (powers[n]) is traced as a Python
    # int, which froze the traced example's shift into the graph (the sentence off by a power of two)
    half = powers.index_select(0, (n - 1).clamp(min=0)) * (n > 0).long()
    return floordiv(x + half, powers.index_select(0, n))


def leaky_norm(norm: int, leak: int) -> int:
    """N[t] = rshift(G N[t-1], 12) + 2^8 (units 2^-8), in Python integers: it depends on t alone."""
    return ((leak * norm + (1 << (fp.LEAK_BITS - 1))) >> fp.LEAK_BITS) + (1 << fp.TRACE_FRAC_BITS)


@dataclasses.dataclass
class ReferenceRun:
    """One query's outputs and every population's spikes, (Tc, tokens, width) int8 each."""

    spikes: dict[str, torch.Tensor]
    foreground_logits: torch.Tensor  # (Lv,)
    boundary: torch.Tensor  # (Lv, 2), after softplus
    score: torch.Tensor  # (Lv,) F_s after the last step
    gate: torch.Tensor  # (Lv,) its min-max normalisation


@dataclasses.dataclass
class IntegerRun:
    """One query's integer outputs before the host's read-out, and every population's spikes."""

    foreground_sum: torch.Tensor  # (Lv, 1) the f decoder's read-out currents summed over the steps read
    boundary_sum: torch.Tensor  # (Lv, 2) the d decoder's
    cosine: torch.Tensor  # (Lv,) SFG's score after the last step, units 2^-16
    gate: torch.Tensor  # (Lv,) its min-max gate, units 2^-12
    spikes: dict[str, torch.Tensor]  # population -> (Tc, tokens, width) int8, the decoders' 0 in their warm-up


class IntegerSteps:
    """The integer model's arithmetic over Tc steps, written once for the eager reference
    (:class:`IntegerReference`) and the traced ONNX graph (export/integer_onnx.py): every operation is
    one a trace keeps (no Python number read from the data, :func:`floordiv` for floor divisions,
    ``x * 0`` for zeros of a data shape, ``torch.where`` for data-dependent choices).

    A subclass gives ``self.c`` (scalars), ``self.arch`` (architecture) and :meth:`weight`.
    """

    c: dict[str, Any]
    arch: dict[str, Any]

    def weight(self, key: str) -> torch.Tensor:
        """The int64 integer weights ``key`` (``layer0.q.sign``, ``input.video.bias``, ...)."""
        raise NotImplementedError

    def reset_state(self) -> None:
        """At rest, before a query: no membranes or spikes; rate-driven currents: N = 0, no last N P, no traces."""
        self.u: dict[str, torch.Tensor] = {}  # membranes by population
        self.spikes: dict[str, list[torch.Tensor]] = {}  # spikes by population, one (tokens, width) per step
        self.norm = 0  # N[t] (units 2^-8), a Python integer: it depends on t alone
        self.previous: dict[str, torch.Tensor] = {}  # each driven population's last N P
        self.traces: dict[str, torch.Tensor] = {}  # each layer's self-output ASR trace (units 2^-8)

    def _lif(self, name: str, current: torch.Tensor, gamma: int) -> torch.Tensor:
        """Population ``name``: U <- sat24(rshift(G U) + I); s = [U >= Phi] - [U <= -Phi]; U <- U - Theta s."""
        theta, fire = self.c[f"{name}.threshold"], self.c[f"{name}.fire"]
        u = self.u.get(name, current * 0)
        u = torch.clamp(rshift(gamma * u, fp.LEAK_BITS) + current, -fp.STATE_MAX, fp.STATE_MAX)
        s = ternary_spikes(u, fire)  # (tokens, width) int64 in {-1, 0, 1}
        self.u[name] = u - theta * s
        self.spikes.setdefault(name, []).append(s.to(torch.int8))
        return s

    def _trace(self, trace: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """An ASR trace: rshift(G trace) + s 2^8 (units 2^-8; its norm is N[t])."""
        return rshift(self.c["leak"] * trace, fp.LEAK_BITS) + spikes * (1 << fp.TRACE_FRAC_BITS)

    def _drive(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """Rate-driven current of population ``name``: N P - rshift(G N' P') (hw_sim FixedPoint.drive)."""
        total = rshift(self.norm * value, fp.TRACE_FRAC_BITS)
        current = total - rshift(self.c["leak"] * self.previous.get(name, value * 0), fp.LEAK_BITS)
        self.previous[name] = total
        return current

    def _linear(self, x: torch.Tensor, key: str) -> torch.Tensor:
        return imatmul(x, self.weight(f"{key}.sign").T) * (1 << fp.MEMBRANE_FRAC_BITS) + self.weight(f"{key}.bias")

    def _conv(self, h: torch.Tensor, key: str) -> torch.Tensor:
        """'same' 1-D convolution of (Lv, C_in) with 1-bit kernels (C_out, C_in, k) -> integer current."""
        sign = self.weight(f"{key}.sign")
        k = sign.shape[2]
        padded = F.pad(h.T, (k // 2, k // 2)).T  # (Lv + k - 1, C_in)
        acc = sum(imatmul(padded[j : j + h.shape[0]], sign[:, :, j].T) for j in range(k))  # (Lv, C_out)
        return acc * (1 << fp.MEMBRANE_FRAC_BITS) + self.weight(f"{key}.bias")

    def _gelu(self, y: torch.Tensor, key: str) -> torch.Tensor:
        table, shift, offset = self.weight(f"{key}.gelu"), self.c[f"{key}.gelu_shift"], self.c[f"{key}.gelu_offset"]
        index = floordiv(y + offset, 1 << shift).clamp(0, table.shape[0] - 1)
        return torch.where(y >= offset, y, torch.where(y >= -offset, table[index], y * 0))

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        key, c, g = f"layer{i}", self.c, self.c["leak"]
        heads = self.arch["num_heads"]
        q = self._linear(x, f"{key}.q")  # (L, D) units beta_q 2^-F
        k = self._lif(f"{key}.k", self._linear(x, f"{key}.k"), g)
        v = self._lif(f"{key}.v", self._linear(x, f"{key}.v"), g)
        split = [t.unflatten(1, (heads, -1)).transpose(0, 1) for t in (q, k, v)]  # (H, L, dh) each
        scores = relu(imatmul(split[0], split[1].transpose(1, 2)))  # (H, L, L)
        context = imatmul(scores, split[2]).transpose(0, 1).flatten(1)  # (L, D)
        length = torch.ones_like(x[:, 0]).sum()  # L as a tensor: the query's length varies
        scale = rdiv(torch.tensor(c[f"{key}.q.attention_scale"]), length)
        attn = self._lif(f"{key}.attn", rshift(context * scale, fp.ATTENTION_SHIFT), g)
        so = self._lif(f"{key}.so", self._linear(attn, f"{key}.so") + x * c[f"{key}.so.residual"], g)
        if self.arch["rate_driven"]:  # W_int at the self-output's running ASR trace / N
            trace = self.traces[key] = self._trace(self.traces.get(key, so * 0), so)  # (L, D)
            y = imatmul(trace, self.weight(f"{key}.int.sign").T) * (1 << fp.MEMBRANE_FRAC_BITS)
            y = rdiv(y, torch.tensor(self.norm))
            y = y + self.weight(f"{key}.int.bias")
        else:
            y = self._linear(so, f"{key}.int")
        y = self._gelu(y, f"{key}.int") if self.arch["activation"] == "gelu" else relu(y)
        inter = self._lif(f"{key}.int", self._drive(f"{key}.int", y) if self.arch["rate_driven"] else y, g)
        return self._lif(f"{key}.out", self._linear(inter, f"{key}.out") + so * c[f"{key}.out.residual"], g)

    def _sfg(self, trace: torch.Tensor, sentence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-clip score c (units 2^-16) and the min-max gate g (units 2^-12) from the ASR traces."""
        eps = (self.norm * self.c["sfg.eps"] + (1 << (fp.LEAK_BITS - 1))) >> fp.LEAK_BITS  # Python ints
        norms = isqrt((trace * trace).sum(1) + eps * eps) * isqrt((sentence * sentence).sum())  # (Lv,)
        dots = imatmul(trace, sentence) * (1 << fp.COSINE_FRAC_BITS)  # (Lv,)
        cosine = torch.where(norms > 0, rdiv(dots, norms.clamp(min=1)), dots * 0)
        one = cosine * 0 + (1 << fp.GATE_FRAC_BITS)
        if not self.arch["sfg"]:
            return cosine, one
        low, high = cosine.min(), cosine.max()
        spread = rdiv((cosine - low) * (1 << fp.GATE_FRAC_BITS), (high - low).clamp(min=1))
        return cosine, torch.where(high == low, one, spread)

    def run_integer(self, video: torch.Tensor, text: torch.Tensor, tc: int) -> IntegerRun:
        """Quantised features video (Lv, Dv), text (Lq, Dt) int64 (:func:`fp.quantize_features`) -> Tc steps."""
        c, f = self.c, fp.MEMBRANE_FRAC_BITS
        lv = video.shape[0]
        shift = fp.INPUT_SCALE_FRAC_BITS + fp.FEATURE_FRAC_BITS - f
        v = rshift(imatmul(video, self.weight("input.video.sign").T) * c["input.video.scale"], shift)
        v = v + self.weight("input.video.bias")[:lv]  # (Lv, D)
        q = rshift(imatmul(text, self.weight("input.text.sign").T) * c["input.text.scale"], shift)
        q = q + self.weight("input.text.bias")  # (Lq, D)
        one = 1 << (fp.MEMBRANE_FRAC_BITS + fp.POOL_FRAC_BITS)  # 1 in the logits' units
        weights = shift_to_bits(relu(imatmul(q, self.weight("sfg.pool"))) + one, fp.LOGIT_BITS)  # (Lq,)
        sentence = shift_to_bits((weights[:, None] * q).sum(0), fp.SENTENCE_BITS)  # (D,)

        self.reset_state()
        gate = v[:, 0] * 0 + fp.gate_units(self.arch["initial_gate"])  # (Lv,) the first step's g0
        trace = v * 0  # SFG's ASR trace of the last layer's video spikes; its norm is self.norm
        readout: dict[str, Any] = {"f": 0, "d": 0}
        keys = readout_convolutions(self.arch)
        warmup = decoder_warmup_steps(self.arch["decoder_warmup"], tc)  # steps the decoders do not read
        for t in range(tc):
            self.norm = leaky_norm(self.norm, c["leak"])  # N[t], the norm of every ASR trace of this step
            current = torch.cat([rshift(v * gate[:, None], fp.GATE_FRAC_BITS), q])  # (L, D)
            if self.arch["rate_driven"]:
                current = self._drive("input", current)
            x = self._lif("input", current, c["leak"])
            for i in range(self.arch["num_layers"]):
                x = self._layer(i, x)
            trace = self._trace(trace, x[:lv])
            cosine, gate = self._sfg(trace, sentence)
            if t < warmup:
                continue
            for head in ("f", "d"):
                h = x[:lv]
                for j in range(self.arch[f"{head}_layers"] - 1):
                    key = f"decoder.{head}.{j}"
                    h = self._lif(key, self._conv(h, key), 1 << fp.LEAK_BITS)
                readout[head] = readout[head] + self._conv(h, keys[head])
        return IntegerRun(readout["f"], readout["d"], cosine, gate, stack_steps(self.spikes, tc))


class IntegerReference(IntegerSteps):
    """The integer model over the weights of a bundle (``arrays``, ``scalars``, ``architecture``)."""

    def __init__(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], architecture: dict[str, Any]):
        self.w = {name: torch.from_numpy(np.asarray(a, np.int64)) for name, a in arrays.items()}
        self.c = scalars
        self.arch = architecture
        self.reset_state()

    def weight(self, key: str) -> torch.Tensor:
        return self.w[key]

    def run(self, video: np.ndarray, text: np.ndarray, tc: int) -> ReferenceRun:
        """Real features video (Lv, Dv), text (Lq, Dt) -> outputs and spikes of Tc timesteps, read out as the
        host reads a deployment: the sums times the read-out scale over the Tc - k steps read."""
        xv = torch.from_numpy(fp.quantize_features(video))
        xt = torch.from_numpy(fp.quantize_features(text))
        run = self.run_integer(xv, xt, tc)
        read = decoder_read_steps(self.arch["decoder_warmup"], tc)
        scale = {head: self.c[f"{key}.readout_scale"] for head, key in readout_convolutions(self.arch).items()}
        return ReferenceRun(
            spikes=run.spikes,
            foreground_logits=run.foreground_sum[:, 0].double() * scale["f"] / read,
            boundary=F.softplus(run.boundary_sum.double() * scale["d"] / read),
            score=run.cosine.double() / 2**fp.COSINE_FRAC_BITS,
            gate=run.gate.double() / (1 << fp.GATE_FRAC_BITS),
        )
