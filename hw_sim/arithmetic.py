"""The two number systems the Lava process models compute in (numpy, one token layout).

The process models (hw_sim/processes/*/models.py) describe *what* a process does at a timestep once;
an arithmetic object says *how* each operation is carried out:

* :class:`FixedPoint` -- the integer model of export/fixed_point.py (int64 arrays, 1-bit weights with
  beta folded into thresholds and biases, 24-bit saturating state, round-half-up shifts);
* :class:`FloatingPoint` -- float64, the equations of spiking/ (the floating-point reference).

Tokens are laid out as [video padded to Lv_max; text padded to Lq_max]; masks mark the real ones.
Padded tokens never reach a real token: they get no input current, attention gives padded keys
weight 0, SFG and the decoders see real clips only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from export import fixed_point as fp


class FixedPoint:
    """Integer arithmetic (export/fixed_point.py)."""

    dtype = np.int64

    def __init__(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], architecture: dict[str, Any]):
        self.w = {name: np.asarray(a, np.int64) for name, a in arrays.items()}
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

    def initial_gate(self, video_mask: np.ndarray) -> np.ndarray:
        return video_mask.astype(np.int64) << fp.GATE_FRAC_BITS

    def input_current(self, ctx: dict, gate: np.ndarray, token_mask: np.ndarray) -> np.ndarray:
        video = fp.rshift(ctx["video"] * gate[:, None], fp.GATE_FRAC_BITS)
        return np.concatenate([video, ctx["text"]]) * token_mask[:, None]

    def new_trace(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        return {"trace": np.zeros(shape, np.int64), "norm": np.zeros(1, np.int64)}

    def sfg(self, state: dict, spikes: np.ndarray, ctx: dict, video_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Update the ASR trace with the last layer's video spikes; score c (2^-16) and gate g (2^-12)."""
        trace, norm = state["trace"], state["norm"]
        trace[:] = fp.rshift(self.c["leak"] * trace, fp.LEAK_BITS) + spikes * (1 << fp.TRACE_FRAC_BITS)
        norm[:] = fp.rshift(self.c["leak"] * norm, fp.LEAK_BITS) + (1 << fp.TRACE_FRAC_BITS)
        eps = fp.rshift(norm * self.c["sfg.eps"], fp.LEAK_BITS)
        norms = fp.isqrt((trace * trace).sum(1) + eps * eps) * ctx["sentence_norm"]
        dots = (trace @ ctx["sentence"]) * (1 << fp.COSINE_FRAC_BITS)
        score = np.where(norms > 0, fp.rdiv(dots, np.maximum(norms, 1)), 0)
        real = score[video_mask]
        low, high = real.min(), real.max()
        if not self.arch["sfg"] or high == low:
            return score, self.initial_gate(video_mask)
        return score, np.where(video_mask, fp.rdiv((score - low) << fp.GATE_FRAC_BITS, high - low), 0)

    def linear(self, x: np.ndarray, key: str) -> np.ndarray:
        """1-bit layer: integer accumulation of signed spikes, then the folded bias."""
        return (x @ self.w[f"{key}.sign"].T) * self.unit + self.w[f"{key}.bias"]

    def residual(self, x: np.ndarray, key: str) -> np.ndarray:
        return x * self.c[f"{key}.residual"]

    def attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, token_mask: np.ndarray, layer: int) -> np.ndarray:
        """ReLU(q k^T) s_v with 1/L and beta_q as one rounded fixed-point multiply."""
        scale = fp.rdiv(self.c[f"layer{layer}.q.attention_scale"], int(token_mask.sum()))
        return fp.rshift(_attend(q, k * token_mask[:, None], v, self.arch["num_heads"]) * scale, fp.ATTENTION_SHIFT)

    def activation(self, y: np.ndarray, key: str) -> np.ndarray:
        if self.arch["activation"] != "gelu":
            return np.maximum(y, 0)
        table, shift, offset = self.w[f"{key}.gelu"], self.c[f"{key}.gelu_shift"], self.c[f"{key}.gelu_offset"]
        index = np.clip((y + offset) >> shift, 0, table.size - 1)
        return np.where(y >= offset, y, np.where(y >= -offset, table[index], 0))

    def conv(self, h: np.ndarray, key: str) -> np.ndarray:
        sign = self.w[f"{key}.sign"]
        return _conv_same(h, sign) * self.unit + self.w[f"{key}.bias"]


class FloatingPoint:
    """float64 arithmetic with the model's own equations (spiking/)."""

    dtype = np.float64

    def __init__(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], architecture: dict[str, Any]):
        from spiking.inputs import sinusoidal_positions

        self.w = {name: np.asarray(a, np.float64) for name, a in arrays.items()}
        self.c = scalars
        self.arch = architecture
        # the clip positions the model adds to V (spiking/inputs.py)
        self.positions = sinusoidal_positions(
            architecture["max_clips"], architecture["hidden_dim"], dtype=torch.float64
        )
        self.positions = self.positions.numpy()

    def lif(self, u: np.ndarray, current: np.ndarray, population: str) -> np.ndarray:
        """u <- gamma u + I; s = [u >= r Vth] - [u <= -r Vth]; u <- u - Vth s (spiking/neuron.py)."""
        theta = self.c["threshold"]
        # r Vth as the model's neurons compute it (fire_ratio * Vth), so a spike on the edge falls alike
        fire = self.c["fire_ratio"] * theta
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

    def initial_gate(self, video_mask: np.ndarray) -> np.ndarray:
        return video_mask.astype(np.float64)

    def input_current(self, ctx: dict, gate: np.ndarray, token_mask: np.ndarray) -> np.ndarray:
        return np.concatenate([ctx["video"] * gate[:, None], ctx["text"]]) * token_mask[:, None]

    def new_trace(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"trace": np.zeros(shape), "norm": np.zeros(1)}

    def sfg(self, state: dict, spikes: np.ndarray, ctx: dict, video_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ASR a = sum gamma^(t-tau) s / sum gamma^(t-tau); cosine with M; min-max gate (spiking/sfg.py)."""
        gamma, eps, flat = self.c["leak"], self.c["sfg.eps"], self.c["sfg.flat"]
        state["trace"][:] = gamma * state["trace"] + spikes
        state["norm"][:] = gamma * state["norm"] + 1.0
        rate = state["trace"] / state["norm"][0]
        m = ctx["sentence"]
        # the clip norm smoothed by eps, the sentence norm floored at ``flat`` (spiking/sfg.py)
        score = (rate @ m) / (np.sqrt((rate * rate).sum(1) + eps**2) * max(np.linalg.norm(m), flat))
        if not self.arch["sfg"]:
            return score, self.initial_gate(video_mask)
        real = score[video_mask]
        low, high = real.min(), real.max()
        if high - low <= flat:
            return score, self.initial_gate(video_mask)
        return score, np.where(video_mask, (score - low) / (high - low), 0.0)

    def linear(self, x: np.ndarray, key: str) -> np.ndarray:
        return x @ self.w[f"{key}.weight"].T + self.w[f"{key}.bias"]

    def residual(self, x: np.ndarray, key: str) -> np.ndarray:
        return x

    def attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, token_mask: np.ndarray, layer: int) -> np.ndarray:
        """ReLU(q k^T) / L over the real keys, times s_v (Eq. 7)."""
        return _attend(q, k * token_mask[:, None], v, self.arch["num_heads"]) / max(int(token_mask.sum()), 1)

    def activation(self, y: np.ndarray, key: str) -> np.ndarray:
        if self.arch["activation"] != "gelu":
            return np.maximum(y, 0.0)
        return torch.nn.functional.gelu(torch.from_numpy(y)).numpy()

    def conv(self, h: np.ndarray, key: str) -> np.ndarray:
        return _conv_same(h, self.w[f"{key}.weight"]) + self.w[f"{key}.bias"]


def _attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int) -> np.ndarray:
    """Per head ReLU(q k^T) v: (L, D) each -> (L, D); masked keys must already be zero in k."""
    length = q.shape[0]
    split = [t.reshape(length, heads, -1).transpose(1, 0, 2) for t in (q, k, v)]  # (H, L, dh)
    scores = np.maximum(split[0] @ split[1].transpose(0, 2, 1), 0)  # (H, L, L)
    return (scores @ split[2]).transpose(1, 0, 2).reshape(length, -1)


def _conv_same(h: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'same'-padded 1-D convolution over clips: h (Lv, C_in), kernel (C_out, C_in, k) -> (Lv, C_out)."""
    size = kernel.shape[2]
    padded = np.pad(h, ((size // 2, size // 2), (0, 0)))
    return sum(padded[j : j + h.shape[0]] @ kernel[:, :, j].T for j in range(size))


ARITHMETIC = {"fixed": FixedPoint, "float": FloatingPoint}
