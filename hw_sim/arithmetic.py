"""The two number systems the Lava process models compute in (numpy, one token layout).

The process models (hw_sim/processes/*/models.py) describe *what* a process does at a timestep once;
an arithmetic object says *how* each operation is carried out:

* :class:`FixedPoint` -- the integer model of export/fixed_point.py (int64 arrays, 1-bit weights with
  beta folded into thresholds and biases, 24-bit saturating state, round-half-up shifts);
* :class:`FloatingPoint` -- float64, the equations of spiking/ (the floating-point reference).

Arrays carry B queries on their leading axis (state (B, L, D), masks (B, L)); each query keeps its
own lengths, masks, attention scale and SFG normalisation, so a batch gives every query the values it
would get alone. Tokens are laid out as [video padded to Lv_max; text padded to Lq_max]; masks mark
the real ones. ``prepare`` alone takes one query (it runs once per query, not per step).

The weights, biases and thresholds come as mappings that read the process's Vars at each use
(hw_sim/processes/base.py), so nothing is copied here.
Padded tokens never reach a real token: they get no input current, attention gives padded keys
weight 0, SFG and the decoders see real clips only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from export import fixed_point as fp


class FixedPoint:
    """Integer arithmetic (export/fixed_point.py)."""

    dtype = np.int64

    def __init__(self, arrays: Mapping[str, np.ndarray], scalars: Mapping[str, Any], architecture: dict[str, Any]):
        self.w = arrays  # int64 Vars (signs, biases), read when used
        self.c = scalars
        self.arch = architecture
        self.unit = 1 << fp.MEMBRANE_FRAC_BITS

    def gamma(self, population: str) -> int:
        return (1 << fp.LEAK_BITS) if population.startswith("decoder") else self.c["leak"]

    def lif(self, u: np.ndarray, current: np.ndarray, population: str) -> np.ndarray:
        """One ternary LIF step on the membrane ``u`` (updated in place) -> spikes: fire at the firing
        point Phi, subtract the threshold Theta (both integers of the bundle, export/fixed_point.py)."""
        theta, fire = self.c[f"{population}.threshold"], self.c[f"{population}.fire"]
        u[:] = fp.saturate(fp.rshift(self.gamma(population) * u, fp.LEAK_BITS) + current)
        s = (u >= fire).astype(np.int64) - (u <= -fire).astype(np.int64)
        u -= theta * s
        return s

    def prepare(self, video: np.ndarray, text: np.ndarray, n_text: int) -> dict[str, np.ndarray]:
        """Injected features (already quantised) -> V (Lv_max, D), Q (Lq_max, D), sentence M (D,)."""
        shift = fp.INPUT_SCALE_FRAC_BITS + fp.FEATURE_FRAC_BITS - fp.MEMBRANE_FRAC_BITS
        xv, xt = video.astype(np.int64), text.astype(np.int64)
        v = fp.rshift((xv @ self.w["input.video.sign"].T) * self.c["input.video.scale"], shift)
        v += self.w["input.video.bias"][: v.shape[0]]
        q = (
            fp.rshift((xt @ self.w["input.text.sign"].T) * self.c["input.text.scale"], shift)
            + self.w["input.text.bias"]
        )
        real = q[:n_text]
        one = 1 << (fp.MEMBRANE_FRAC_BITS + fp.POOL_FRAC_BITS)  # 1 in the logits' units
        weights = fp.shift_to_bits(np.maximum(real @ self.w["sfg.pool"], 0) + one, fp.LOGIT_BITS)
        sentence = fp.shift_to_bits((weights[:, None] * real).sum(0), fp.SENTENCE_BITS)
        return {"video": v, "text": q, "sentence": sentence, "sentence_norm": fp.isqrt((sentence * sentence).sum())}

    def open_gate(self, video_mask: np.ndarray) -> np.ndarray:
        """No gating: 1 (units 2^-12) on the real clips."""
        return video_mask.astype(np.int64) << fp.GATE_FRAC_BITS

    def first_gate(self, video_mask: np.ndarray) -> np.ndarray:
        """The first step's gate g0 (``architecture.initial_gate``, units 2^-12) on the real clips."""
        return video_mask.astype(np.int64) * fp.gate_units(self.arch["initial_gate"])

    def input_current(self, ctx: dict, gate: np.ndarray, token_mask: np.ndarray) -> np.ndarray:
        video = fp.rshift(ctx["video"] * gate[..., None], fp.GATE_FRAC_BITS)
        return np.concatenate([video, ctx["text"]], axis=1) * token_mask[..., None]

    def new_trace(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        return {"trace": np.zeros(shape, np.int64), "norm": np.zeros(1, np.int64)}

    def _leaky_sum(self, x: np.ndarray, value: Any) -> None:
        """x <- rshift(G x) + value 2^8 in place: an ASR trace (value: the spikes) or its norm (value 1)."""
        x[:] = fp.rshift(self.c["leak"] * x, fp.LEAK_BITS) + value * (1 << fp.TRACE_FRAC_BITS)

    def sfg(self, state: dict, spikes: np.ndarray, ctx: dict, video_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Update the ASR trace with the last layer's video spikes; score c (2^-16) and gate g (2^-12)."""
        trace, norm = state["trace"], state["norm"]
        self._leaky_sum(trace, spikes)
        self._leaky_sum(norm, 1)
        eps = fp.rshift(norm * self.c["sfg.eps"], fp.LEAK_BITS)
        norms = fp.isqrt((trace * trace).sum(-1) + eps * eps) * ctx["sentence_norm"][:, None]  # (B, Lv)
        dots = _exact_matmul(trace, ctx["sentence"][..., None])[..., 0] * (1 << fp.COSINE_FRAC_BITS)
        score = np.where(norms > 0, fp.rdiv(dots, np.maximum(norms, 1)), 0)
        if not self.arch["sfg"]:
            return score, self.open_gate(video_mask)
        # each query's min and max over its real clips; a flat score keeps that query's gate at 1
        low, high = _masked_range(score, video_mask)
        flat = high == low
        gate = np.where(video_mask, fp.rdiv((score - low) << fp.GATE_FRAC_BITS, np.where(flat, 1, high - low)), 0)
        return score, np.where(flat, self.open_gate(video_mask), gate)

    def new_drive(self, shape: tuple[int, ...], trace_shape: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
        """State of a rate-driven current (``architecture.rate_driven``): the norm N (units 2^-8), the last
        N P, and the ASR trace of the spikes it reads (``trace_shape``, units 2^-8), from rest."""
        state = {"norm": np.zeros(1, np.int64), "previous": np.zeros(shape, np.int64)}
        if trace_shape is not None:
            state["trace"] = np.zeros(trace_shape, np.int64)
        return state

    def advance(self, state: dict) -> None:
        """N[t] = rshift(G N[t-1]) + 1, the norm of this step's running rates (as SFG's trace norm)."""
        self._leaky_sum(state["norm"], 1)

    def rate_linear(self, state: dict, spikes: np.ndarray, key: str) -> np.ndarray:
        """The trace updated with ``spikes``, then the 1-bit layer at the ASR trace / N: rdiv(W trace, N) + b."""
        self._leaky_sum(state["trace"], spikes)
        accumulated = _exact_matmul(state["trace"], self.w[f"{key}.sign"].T) * self.unit
        return fp.rdiv(accumulated, state["norm"]) + self.w[f"{key}.bias"]

    def drive(self, state: dict, value: np.ndarray) -> np.ndarray:
        """The rate-driven current I = N P - rshift(G N' P') of value P (spiking.neuron.RateDrivenCurrent)."""
        total = fp.rshift(state["norm"] * value, fp.TRACE_FRAC_BITS)  # N[t] P[t] in the current's units
        current = total - fp.rshift(self.c["leak"] * state["previous"], fp.LEAK_BITS)
        state["previous"][:] = total
        return current

    def linear(self, x: np.ndarray, key: str) -> np.ndarray:
        """1-bit layer: integer accumulation of signed spikes, then the folded bias."""
        return _exact_matmul(x, self.w[f"{key}.sign"].T) * self.unit + self.w[f"{key}.bias"]

    def residual(self, x: np.ndarray, key: str) -> np.ndarray:
        return x * self.c[f"{key}.residual"]

    def attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, token_mask: np.ndarray, layer: int) -> np.ndarray:
        """ReLU(q k^T) s_v with 1/L and beta_q as one rounded fixed-point multiply."""
        scale = fp.rdiv(self.c[f"layer{layer}.q.attention_scale"], token_mask.sum(-1))[:, None, None]  # per query
        context = _attend(q, k * token_mask[..., None], v, self.arch["num_heads"], _exact_matmul)
        return fp.rshift(context * scale, fp.ATTENTION_SHIFT)

    def activation(self, y: np.ndarray, key: str) -> np.ndarray:
        if self.arch["activation"] != "gelu":
            return np.maximum(y, 0)
        table, shift, offset = self.w[f"{key}.gelu"], self.c[f"{key}.gelu_shift"], self.c[f"{key}.gelu_offset"]
        table = np.asarray(table, np.int64)
        index = np.clip((y + offset) >> shift, 0, table.size - 1)
        return np.where(y >= offset, y, np.where(y >= -offset, table[index], 0))

    def conv(self, h: np.ndarray, key: str) -> np.ndarray:
        sign = self.w[f"{key}.sign"]
        return _conv_same(h, sign, _exact_matmul) * self.unit + self.w[f"{key}.bias"]


class FloatingPoint:
    """float64 arithmetic with the model's own equations (spiking/)."""

    dtype = np.float64

    def __init__(self, arrays: Mapping[str, np.ndarray], scalars: Mapping[str, Any], architecture: dict[str, Any]):
        from spiking.inputs import sinusoidal_positions

        self.w = arrays  # float64 Vars, read when used
        self.c = scalars
        self.arch = architecture
        # the clip positions the model adds to V (spiking/inputs.py)
        self.positions = sinusoidal_positions(
            architecture["max_clips"], architecture["hidden_dim"], dtype=torch.float64
        )
        self.positions = self.positions.numpy()

    def lif(self, u: np.ndarray, current: np.ndarray, population: str) -> np.ndarray:
        """u <- gamma u + I; s = [u >= r Vth] - [u <= -r Vth]; u <- u - Vth s (spiking/neuron.py)."""
        # r Vth was computed as the model's neurons compute it (fire_ratio * Vth), so a spike on the edge
        # falls alike (hw_sim/processes/common.py threshold_vars)
        theta, fire = self.c[f"{population}.threshold"], self.c[f"{population}.fire"]
        gamma = 1.0 if population.startswith("decoder") else self.c["leak"]
        u[:] = gamma * u + current
        s = (u >= fire).astype(np.float64) - (u <= -fire).astype(np.float64)
        u -= theta * s
        return s

    def prepare(self, video: np.ndarray, text: np.ndarray, n_text: int) -> dict[str, np.ndarray]:
        v = video @ self.w["input.video.weight"].T + self.w["input.video.bias"] + self.positions[: video.shape[0]]
        q = text @ self.w["input.text.weight"].T + self.w["input.text.bias"]
        real = q[:n_text]
        weights = (1.0 + np.maximum(real @ self.w["sfg.pool"], 0)) / max(n_text, 1)  # NF's (1 + ReLU(.)) / Lq
        return {"video": v, "text": q, "sentence": (weights[:, None] * real).sum(0)}

    def open_gate(self, video_mask: np.ndarray) -> np.ndarray:
        """No gating: 1 on the real clips."""
        return video_mask.astype(np.float64)

    def first_gate(self, video_mask: np.ndarray) -> np.ndarray:
        """The first step's gate g0 (``architecture.initial_gate``) on the real clips."""
        return self.arch["initial_gate"] * video_mask.astype(np.float64)

    def input_current(self, ctx: dict, gate: np.ndarray, token_mask: np.ndarray) -> np.ndarray:
        return np.concatenate([ctx["video"] * gate[..., None], ctx["text"]], axis=1) * token_mask[..., None]

    def new_trace(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"trace": np.zeros(shape), "norm": np.zeros(1)}

    def _leaky_sum(self, x: np.ndarray, value: Any) -> None:
        """x <- gamma x + value in place: an ASR trace (value: the spikes) or its norm (value 1)."""
        x[:] = self.c["leak"] * x + value

    def sfg(self, state: dict, spikes: np.ndarray, ctx: dict, video_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ASR a = sum gamma^(t-tau) s / sum gamma^(t-tau); cosine with M; min-max gate (spiking/sfg.py)."""
        eps, flat = self.c["sfg.eps"], self.c["sfg.flat"]
        self._leaky_sum(state["trace"], spikes)
        self._leaky_sum(state["norm"], 1.0)
        rate = state["trace"] / state["norm"][0]
        m = ctx["sentence"]  # (B, D)
        # the clip norm smoothed by eps, the sentence norm floored at ``flat`` (spiking/sfg.py)
        sentence_norm = np.maximum(np.linalg.norm(m, axis=-1), flat)[:, None]
        score = (rate @ m[..., None])[..., 0] / (np.sqrt((rate * rate).sum(-1) + eps**2) * sentence_norm)
        if not self.arch["sfg"]:
            return score, self.open_gate(video_mask)
        low, high = _masked_range(score, video_mask)
        level = high - low <= flat  # a flat score keeps that query's gate at 1
        gate = np.where(video_mask, (score - low) / np.where(level, 1.0, high - low), 0.0)
        return score, np.where(level, self.open_gate(video_mask), gate)

    def new_drive(self, shape: tuple[int, ...], trace_shape: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
        """State of a rate-driven current: N, the last N P, and the ASR trace of the spikes it reads."""
        state = {"norm": np.zeros(1), "previous": np.zeros(shape)}
        if trace_shape is not None:
            state["trace"] = np.zeros(trace_shape)
        return state

    def advance(self, state: dict) -> None:
        """N[t] = gamma N[t-1] + 1."""
        self._leaky_sum(state["norm"], 1.0)

    def rate_linear(self, state: dict, spikes: np.ndarray, key: str) -> np.ndarray:
        """The trace updated with ``spikes`` (gamma trace + s), then W a + b at the ASR a = trace / N."""
        self._leaky_sum(state["trace"], spikes)
        return self.linear(state["trace"] / state["norm"][0], key)

    def drive(self, state: dict, value: np.ndarray) -> np.ndarray:
        """I = N P - gamma N' P' (spiking.neuron.RateDrivenCurrent, the same operations)."""
        total = state["norm"][0] * value
        current = total - self.c["leak"] * state["previous"]
        state["previous"][:] = total
        return current

    def linear(self, x: np.ndarray, key: str) -> np.ndarray:
        return x @ self.w[f"{key}.weight"].T + self.w[f"{key}.bias"]

    def residual(self, x: np.ndarray, key: str) -> np.ndarray:
        return x

    def attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, token_mask: np.ndarray, layer: int) -> np.ndarray:
        """ReLU(q k^T) / L over the real keys, times s_v (Eq. 7)."""
        length = np.maximum(token_mask.sum(-1), 1)[:, None, None]  # per query
        return _attend(q, k * token_mask[..., None], v, self.arch["num_heads"]) / length

    def activation(self, y: np.ndarray, key: str) -> np.ndarray:
        if self.arch["activation"] != "gelu":
            return np.maximum(y, 0.0)
        return torch.nn.functional.gelu(torch.from_numpy(y)).numpy()

    def conv(self, h: np.ndarray, key: str) -> np.ndarray:
        return _conv_same(h, self.w[f"{key}.weight"]) + self.w[f"{key}.bias"]


def _masked_range(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of x (B, n), the min and max over the entries ``mask`` marks, as (B, 1) each."""
    low = np.where(mask, x, np.inf).min(-1, keepdims=True)
    high = np.where(mask, x, -np.inf).max(-1, keepdims=True)
    return low.astype(x.dtype), high.astype(x.dtype)


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b of int64 arrays, exactly: through float64 BLAS when no partial sum can reach 2^53 (K max|a|
    max|b| < 2^53: ternary spikes against 1-bit weights always), else numpy's integer loop, which is many
    times slower; both give the same integers."""
    bound = a.shape[-1] * int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0))
    if bound < 2**53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def _attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int, matmul: Any = np.matmul) -> np.ndarray:
    """Per head ReLU(q k^T) v: (B, L, D) each -> (B, L, D); masked keys must already be zero in k."""
    batch, length, _ = q.shape
    split = [t.reshape(batch, length, heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v)]  # (B, H, L, dh)
    scores = np.maximum(matmul(split[0], split[1].transpose(0, 1, 3, 2)), 0)  # (B, H, L, L)
    return matmul(scores, split[2]).transpose(0, 2, 1, 3).reshape(batch, length, -1)


def _conv_same(h: np.ndarray, kernel: np.ndarray, matmul: Any = np.matmul) -> np.ndarray:
    """'same'-padded 1-D convolution over clips: h (B, Lv, C_in), kernel (C_out, C_in, k) -> (B, Lv, C_out)."""
    size = kernel.shape[2]
    padded = np.pad(h, ((0, 0), (size // 2, size // 2), (0, 0)))
    return sum(matmul(padded[:, j : j + h.shape[1]], kernel[:, :, j].T) for j in range(size))


ARITHMETIC = {"fixed": FixedPoint, "float": FloatingPoint}
