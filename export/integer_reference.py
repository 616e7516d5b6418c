"""PyTorch integer reference of 1-bit NF SpikingVTG: the integer model of export/fixed_point.py on
int64 tensors, one query at a time (real tokens only, video first), in the order of
:meth:`spiking.model.SpikingVTG.step`. The Lava fixed-point simulation must match it spike for spike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from export import fixed_point as fp
from spiking.activity import stack_steps
from spiking.config import decoder_warmup_steps


def _rshift(x: torch.Tensor, n: int) -> torch.Tensor:
    return (x + (1 << (n - 1))) >> n


def _rdiv(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.div(2 * a + b, 2 * b, rounding_mode="floor")


def _isqrt(n: torch.Tensor) -> torch.Tensor:
    root = torch.floor(torch.sqrt(n.double())).long()
    root = root - (root * root > n).long()
    return root + ((root + 1) * (root + 1) <= n).long()


def _shift_to_bits(x: torch.Tensor, bits: int) -> torch.Tensor:
    excess = int(x.abs().max()).bit_length() - bits if x.numel() else 0
    return _rshift(x, excess) if excess > 0 else x


@dataclasses.dataclass
class ReferenceRun:
    """One query's outputs and every population's spikes, (Tc, tokens, width) int8 each."""

    spikes: dict[str, torch.Tensor]
    foreground_logits: torch.Tensor  # (Lv,)
    boundary: torch.Tensor  # (Lv, 2), after softplus
    score: torch.Tensor  # (Lv,) F_s after the last step
    gate: torch.Tensor  # (Lv,) its min-max normalisation


class IntegerReference:
    """The integer model over the weights of a bundle (``arrays``, ``scalars``, ``architecture``)."""

    def __init__(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], architecture: dict[str, Any]):
        self.w = {name: torch.from_numpy(np.asarray(a, np.int64)) for name, a in arrays.items()}
        self.c = scalars
        self.arch = architecture
        self.u: dict[str, torch.Tensor] = {}  # membranes of the query being run, by population
        self.spikes: dict[str, list[torch.Tensor]] = {}  # its spikes, one (tokens, width) per step
        # rate-driven currents (architecture.rate_driven): N[t] (units 2^-8), each driven population's last
        # N P, and each layer's self-output ASR trace (units 2^-8)
        self.norm = 0
        self.previous: dict[str, torch.Tensor] = {}
        self.traces: dict[str, torch.Tensor] = {}

    def _lif(self, name: str, current: torch.Tensor, gamma: int) -> torch.Tensor:
        """Population ``name``: U <- sat24(rshift(G U) + I); s = [U >= Phi] - [U <= -Phi]; U <- U - Theta s."""
        theta, fire = self.c[f"{name}.threshold"], self.c[f"{name}.fire"]
        u = self.u.get(name, torch.zeros_like(current))
        u = torch.clamp(_rshift(gamma * u, fp.LEAK_BITS) + current, -fp.STATE_MAX, fp.STATE_MAX)
        s = (u >= fire).long() - (u <= -fire).long()
        self.u[name] = u - theta * s
        self.spikes.setdefault(name, []).append(s.to(torch.int8))
        return s

    def _leaky_sum(self, x: Any, value: Any) -> Any:
        """rshift(G x) + value 2^8: an ASR trace (value: the spikes) or its norm N (value 1), units 2^-8."""
        return _rshift(self.c["leak"] * x, fp.LEAK_BITS) + value * (1 << fp.TRACE_FRAC_BITS)

    def _drive(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """Rate-driven current of population ``name``: N P - rshift(G N' P') (hw_sim FixedPoint.drive)."""
        total = _rshift(self.norm * value, fp.TRACE_FRAC_BITS)
        current = total - _rshift(self.c["leak"] * self.previous.get(name, torch.zeros_like(value)), fp.LEAK_BITS)
        self.previous[name] = total
        return current

    def _linear(self, x: torch.Tensor, key: str) -> torch.Tensor:
        return (x @ self.w[f"{key}.sign"].T) * (1 << fp.MEMBRANE_FRAC_BITS) + self.w[f"{key}.bias"]

    def _conv(self, h: torch.Tensor, key: str) -> torch.Tensor:
        """'same' 1-D convolution of (Lv, C_in) with 1-bit kernels (C_out, C_in, k) -> integer current."""
        sign = self.w[f"{key}.sign"]
        k = sign.shape[2]
        padded = F.pad(h.T, (k // 2, k // 2)).T  # (Lv + k - 1, C_in)
        acc = sum(padded[j : j + h.shape[0]] @ sign[:, :, j].T for j in range(k))  # (Lv, C_out)
        return acc * (1 << fp.MEMBRANE_FRAC_BITS) + self.w[f"{key}.bias"]

    def _gelu(self, y: torch.Tensor, key: str) -> torch.Tensor:
        table, shift, offset = self.w[f"{key}.gelu"], self.c[f"{key}.gelu_shift"], self.c[f"{key}.gelu_offset"]
        index = ((y + offset) >> shift).clamp(0, table.numel() - 1)
        return torch.where(y >= offset, y, torch.where(y >= -offset, table[index], torch.zeros_like(y)))

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        key, c, g = f"layer{i}", self.c, self.c["leak"]
        heads = self.arch["num_heads"]
        length = x.shape[0]
        q = self._linear(x, f"{key}.q")  # (L, D) units beta_q 2^-F
        k = self._lif(f"{key}.k", self._linear(x, f"{key}.k"), g)
        v = self._lif(f"{key}.v", self._linear(x, f"{key}.v"), g)
        split = [t.view(length, heads, -1).transpose(0, 1) for t in (q, k, v)]  # (H, L, dh) each
        scores = torch.relu(split[0] @ split[1].transpose(1, 2))  # (H, L, L)
        context = (scores @ split[2]).transpose(0, 1).reshape(length, -1)  # (L, D)
        scale = _rdiv(torch.tensor(c[f"{key}.q.attention_scale"]), torch.tensor(length))
        attn = self._lif(f"{key}.attn", _rshift(context * scale, fp.ATTENTION_SHIFT), g)
        so_current = self._linear(attn, f"{key}.so") + x * c[f"{key}.so.residual"]
        so = self._lif(f"{key}.so", so_current, g)
        if self.arch["rate_driven"]:  # W_int at the self-output's running ASR trace / N
            trace = self.traces[key] = self._leaky_sum(self.traces.get(key, torch.zeros_like(so)), so)  # (L, D)
            y = _rdiv((trace @ self.w[f"{key}.int.sign"].T) * (1 << fp.MEMBRANE_FRAC_BITS), torch.tensor(self.norm))
            y = y + self.w[f"{key}.int.bias"]
        else:
            y = self._linear(so, f"{key}.int")
        y = self._gelu(y, f"{key}.int") if self.arch["activation"] == "gelu" else torch.relu(y)
        inter = self._lif(f"{key}.int", self._drive(f"{key}.int", y) if self.arch["rate_driven"] else y, g)
        out_current = self._linear(inter, f"{key}.out") + so * c[f"{key}.out.residual"]
        return self._lif(f"{key}.out", out_current, g)

    def _sfg(self, trace: torch.Tensor, norm: int, sentence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-clip score c (units 2^-16) and the min-max gate g (units 2^-12) from the ASR traces."""
        eps = _rshift(torch.tensor(norm * self.c["sfg.eps"]), fp.LEAK_BITS)
        norms = _isqrt((trace * trace).sum(1) + eps * eps) * _isqrt((sentence * sentence).sum())  # (Lv,)
        dots = (trace @ sentence) * (1 << fp.COSINE_FRAC_BITS)  # (Lv,)
        cosine = torch.where(norms > 0, _rdiv(dots, norms.clamp(min=1)), torch.zeros_like(dots))
        low, high = cosine.min(), cosine.max()
        one = 1 << fp.GATE_FRAC_BITS
        if not self.arch["sfg"] or high == low:
            return cosine, torch.full_like(cosine, one)
        return cosine, _rdiv((cosine - low) * one, high - low)

    def run(self, video: np.ndarray, text: np.ndarray, tc: int) -> ReferenceRun:
        """Real features video (Lv, Dv), text (Lq, Dt) -> outputs and spikes of Tc timesteps."""
        c, f = self.c, fp.MEMBRANE_FRAC_BITS
        xv = torch.from_numpy(fp.quantize_features(video))
        xt = torch.from_numpy(fp.quantize_features(text))
        lv = xv.shape[0]
        shift = fp.INPUT_SCALE_FRAC_BITS + fp.FEATURE_FRAC_BITS - f
        v = (
            _rshift((xv @ self.w["input.video.sign"].T) * c["input.video.scale"], shift)
            + self.w["input.video.bias"][:lv]
        )
        q = _rshift((xt @ self.w["input.text.sign"].T) * c["input.text.scale"], shift) + self.w["input.text.bias"]
        one = 1 << (fp.MEMBRANE_FRAC_BITS + fp.POOL_FRAC_BITS)  # 1 in the logits' units
        weights = _shift_to_bits(torch.relu(q @ self.w["sfg.pool"]) + one, fp.LOGIT_BITS)  # (Lq,)
        sentence = _shift_to_bits((weights[:, None] * q).sum(0), fp.SENTENCE_BITS)  # (D,)

        self.u, self.spikes = {}, {}
        self.norm, self.previous, self.traces = 0, {}, {}
        one = 1 << fp.GATE_FRAC_BITS
        gate = torch.full((lv,), fp.gate_units(self.arch["initial_gate"]), dtype=torch.long)  # the first step's g0
        trace = torch.zeros_like(v)  # SFG's ASR trace of the last layer's video spikes; its norm is self.norm
        readout = {"f": 0, "d": 0}
        warmup = decoder_warmup_steps(self.arch["decoder_warmup"], tc)  # steps the decoders do not read
        for t in range(tc):
            self.norm = self._leaky_sum(self.norm, 1)  # N[t], the norm of every ASR trace of this step
            current = torch.cat([_rshift(v * gate[:, None], fp.GATE_FRAC_BITS), q])  # (L, D)
            if self.arch["rate_driven"]:
                current = self._drive("input", current)
            x = self._lif("input", current, c["leak"])
            for i in range(self.arch["num_layers"]):
                x = self._layer(i, x)
            trace = self._leaky_sum(trace, x[:lv])
            cosine, gate = self._sfg(trace, self.norm, sentence)
            if t < warmup:
                continue
            for head in ("f", "d"):
                h = x[:lv]
                layers = self.arch[f"{head}_layers"]
                for j in range(layers - 1):
                    key = f"decoder.{head}.{j}"
                    h = self._lif(key, self._conv(h, key), 1 << fp.LEAK_BITS)
                readout[head] = readout[head] + self._conv(h, f"decoder.{head}.{layers - 1}")
        scale = {h: c[f"decoder.{h}.{self.arch[f'{h}_layers'] - 1}.readout_scale"] for h in ("f", "d")}
        return ReferenceRun(
            spikes=stack_steps(self.spikes, tc),
            foreground_logits=readout["f"][:, 0].double() * scale["f"] / (tc - warmup),
            boundary=F.softplus(readout["d"].double() * scale["d"] / (tc - warmup)),
            score=cosine.double() / 2**fp.COSINE_FRAC_BITS,
            gate=gate.double() / one,
        )
