"""The integer model of 1-bit NF SpikingVTG: number formats, rounding, and the weights it runs on.

This is what a Loihi-style chip computes for one timestep of :meth:`spiking.model.SpikingVTG.step`
(same order of operations). Every quantity below is a signed integer; ``x >> n`` is an arithmetic
(flooring) shift. Rounding, everywhere it happens at run time, is **round half up**:

    rshift(x, n)  = (x + 2^(n-1)) >> n                      (x / 2^n rounded, n >= 1)
    rdiv(a, b)    = floor((2a + b) / (2b))                  (a / b rounded, b > 0)
    isqrt(n)      = floor(sqrt(n))                           (exact integer square root, n >= 0)

Constants (manifest ``fixed_point``): F = 12 fraction bits of every membrane, 24-bit signed state,
leak G = round(gamma 2^12).

**Weights** are 1-bit: W_q = sgn(W - mean W) in {-1, +1} (int8), beta = mean|W| per matrix. beta is
folded into the layer's threshold and bias, so a spike costs one integer addition: for a population
fed by a 1-bit layer with scale beta, the membrane U counts units of beta 2^-F (u = U beta / 2^F) and

    I      = (W_q s) << F + B,          B = round(b 2^F / beta)          (bias, int)
    Theta  = round(Vth 2^F / beta)                                       (threshold, int)
    R      = round(2^F / beta)          the weight of a residual spike (self-output, output)

**Ternary LIF** (every encoder neuron; the decoders' IF neurons have G = 2^12, i.e. no leak)::

    U <- sat24(rshift(G U, 12) + I)          sat24 clamps to [-(2^23 - 1), 2^23 - 1]
    s  = [U >= Phi] - [U <= -Phi]            in {-1, 0, 1}
    U <- U - Theta s                          reset by subtraction of the full threshold

The firing point Phi = max(1, floor(r Theta + 1/2)) is the model's ``fire_ratio`` r (the float model
fires at |u| >= r Vth) applied to the integer threshold, rounded half up: scalar ``<population>.fire``
beside every ``<population>.threshold`` (:func:`firing_point`). r = 1 gives Phi = Theta (Eq. 1).

**Input projections** (once per query, from features quantised to X = rint(x 2^12) clipped to 16
bits): V = rshift(beta_v' (W_qv X), 16 + 12 - F) + P_v[i], with beta_v' = round(beta_v 2^16) and
P_v[i] = round((b_v + pos_i) 2^F) (bias plus the clip's sinusoidal position); Q likewise with b_t.
The input neurons' membrane counts 2^-F (Theta_in = Vth 2^F), their current is
[rshift(V g, 12); Q] on real tokens, g the gate below.

**Attention** (per layer, per head, over the L real tokens; padded keys weigh 0): the query is the
integer current of its 1-bit layer (units beta_q 2^-F, no neuron), scores S = Q s_k^T are exact,
``ReLU`` is exact, and the 1/L of Eq. 7 and beta_q are one fixed-point multiply per query:
I_attn = rshift((ReLU(S) s_v) K_L, 24), K_L = rdiv(round(beta_q 2^24), L). The attention neurons
count 2^-F.

**Intermediate activation** on the int neurons' current Y (units beta_int 2^-F): ReLU is exact
(it commutes with beta); GELU is a table: bins of 2^k units (k the largest with 2^k beta 2^-F <=
2^-6) over |y| < 8, each holding round(GELU(y_mid) 2^F / beta) of the bin's midpoint; Y above the
table is passed through, below it gives 0.

**SFG** (spiking/sfg.py: F_s = a.M / (sqrt(|a|^2 + eps^2) |M|), NF pooling phi(z) = (1 + ReLU(z)) / Lq):
the last layer's video ASR a = A / N is kept as two traces, A <- rshift(G A, 12) + s 2^8 and
N <- rshift(G N, 12) + 2^8 (the integer images of sum gamma^(t-tau) s and sum gamma^(t-tau)).
The sentence M (once per query): logits z_j = Q_j W_p' (W_p' = round(W_p 2^12), units 2^-24),
weights w_j = ReLU(z_j) + 2^24 (the "1 +"), rescaled to at most 20 bits by a right shift,
M = sum_j w_j Q_j rescaled to at most 15 bits (positive scale factors leave the cosine unchanged;
1/Lq is one of them). Per clip, with E = round(eps 2^12),
c_i = rdiv((A_i . M) 2^16, isqrt(|A_i|^2 + rshift(N E, 12)^2) isqrt(|M|^2)) (0 when M = 0), i.e. the
score in units 2^-16. Over the real clips,
g_i = rdiv((c_i - min c) 2^12, max c - min c), or 2^12 for all if max c = min c (the float model's
"no gating"), 0 on padding; the first step's gate is g0 = gate_units(model.initial_gate) on real clips.

**Decoders**: 1-bit convolutions ('same' padding) with folded beta and IF neurons as above; spikes on
padded clips are zeroed; the decoders run from rest over steps k + 1 .. Tc (k = decoder_warmup_steps(Tc),
min(ceil(w Tc), Tc - 1)); the read-out convolution's integer current Y (units beta_n 2^-F) is summed over
those Tc - k steps, and the host reads out y = sum Y beta_n / (2^F (Tc - k)) (foreground logit; boundary
through softplus). The saliency outputs are c 2^-16 (score) and g 2^-12 (gate).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from export.model_map import weight_layers
from spiking.populations import readout_convolutions

MEMBRANE_FRAC_BITS = 12  # F
STATE_BITS = 24
LEAK_BITS = 12
FEATURE_FRAC_BITS = 12
FEATURE_BITS = 16
INPUT_SCALE_FRAC_BITS = 16
ATTENTION_SHIFT = 24
POOL_FRAC_BITS = 12
LOGIT_BITS = 20
SENTENCE_BITS = 15
TRACE_FRAC_BITS = 8
COSINE_FRAC_BITS = 16
GATE_FRAC_BITS = 12


def gate_units(gate: float) -> int:
    """A gate in [0, 1] in the integer model's units 2^-GATE_FRAC_BITS (the first step's gate g0)."""
    return round(gate * (1 << GATE_FRAC_BITS))


GELU_STEP = 2.0**-6  # the GELU table's widest bin, in real units
GELU_RANGE = 8.0  # |y| beyond which GELU(y) is ReLU(y) to double precision

STATE_MAX = 2 ** (STATE_BITS - 1) - 1

FORMATS = {
    "membrane_frac_bits": MEMBRANE_FRAC_BITS,
    "state_bits": STATE_BITS,
    "leak_bits": LEAK_BITS,
    "feature_frac_bits": FEATURE_FRAC_BITS,
    "feature_bits": FEATURE_BITS,
    "input_scale_frac_bits": INPUT_SCALE_FRAC_BITS,
    "attention_shift": ATTENTION_SHIFT,
    "pool_frac_bits": POOL_FRAC_BITS,
    "logit_bits": LOGIT_BITS,
    "sentence_bits": SENTENCE_BITS,
    "trace_frac_bits": TRACE_FRAC_BITS,
    "cosine_frac_bits": COSINE_FRAC_BITS,
    "gate_frac_bits": GATE_FRAC_BITS,
    "rounding": "half up: rshift(x, n) = (x + 2^(n-1)) >> n, rdiv(a, b) = floor((2a + b) / 2b)",
    "weights": "1 bit: sgn(W - mean W), beta = mean |W| folded into thresholds and biases",
}

# ------------------------------------------------------------------------------------------------
# Run-time integer operations (numpy int64 arrays; the PyTorch reference has its own, on tensors)


def rshift(x: np.ndarray, n: int) -> np.ndarray:
    """x / 2^n rounded half up (n >= 1)."""
    return (x + (1 << (n - 1))) >> n


def rdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b rounded half up, for b > 0."""
    return (2 * a + b) // (2 * b)


def isqrt(n: np.ndarray) -> np.ndarray:
    """floor(sqrt(n)) of int64 n >= 0: a float estimate, then corrected by exact integer comparisons."""
    root = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    root -= (root * root > n).astype(np.int64)
    root += ((root + 1) * (root + 1) <= n).astype(np.int64)
    return root


def saturate(u: np.ndarray) -> np.ndarray:
    """Clamp to the 24-bit signed state range."""
    return np.clip(u, -STATE_MAX, STATE_MAX)


def shift_to_bits(x: np.ndarray, bits: int) -> np.ndarray:
    """Rescale x by a right shift (rounded) so that max|x| < 2^bits; a positive scale factor."""
    excess = int(np.abs(x).max(initial=0)).bit_length() - bits
    return rshift(x, excess) if excess > 0 else x


def firing_point(theta: int, fire_ratio: float) -> int:
    """Phi = max(1, floor(r Theta + 1/2)): the integer a membrane of threshold ``theta`` fires at.

    Computed exactly (a float r is a binary fraction), so every reader of a bundle derives the same
    integer from (Theta, r). Phi = 0 and Phi = 1 fire alike on integers (s = sgn U either way), so the
    floor at 1 changes nothing and keeps Phi >= 1 checkable.
    """
    return max(1, math.floor(Fraction(fire_ratio) * theta + Fraction(1, 2)))


def quantize_features(features: Any) -> Any:
    """Real features -> X = rint(x 2^12) clipped to 16-bit signed (the sensor boundary, on the host): an
    int64 array of an array, an int64 tensor of a tensor (the integer ONNX graph's float front)."""
    limit = 2 ** (FEATURE_BITS - 1) - 1
    if isinstance(features, torch.Tensor):  # round() is rint's half to even
        return torch.clamp(torch.round(features.double() * 2**FEATURE_FRAC_BITS), -limit, limit).long()
    return np.clip(np.rint(np.asarray(features, np.float64) * 2**FEATURE_FRAC_BITS), -limit, limit).astype(np.int64)


# ------------------------------------------------------------------------------------------------
# Export-time conversion of a trained model


def _binary(layer: torch.nn.Module) -> tuple[np.ndarray, float]:
    """1-bit layer -> (sgn(W - mean W) as int8 with sgn(0) = +1, beta = mean |W|)."""
    weight = layer.weight.detach().double()
    signs = torch.where(weight - weight.mean() >= 0, 1, -1).to(torch.int8)
    return signs.numpy(), float(weight.abs().mean())


def _bias(layer: torch.nn.Module) -> np.ndarray:
    return layer.bias.detach().double().numpy()


def _folded(value: np.ndarray | float, beta: float) -> np.ndarray:
    """A real value added to a membrane of units beta 2^-F, as an integer."""
    return np.rint(np.asarray(value, np.float64) * 2**MEMBRANE_FRAC_BITS / beta).astype(np.int64)


def gelu_table(beta: float) -> tuple[np.ndarray, int, int]:
    """GELU on currents of units beta 2^-F: (table, bin shift k, offset) with GELU_int(Y) =
    table[(Y + offset) >> k] for -offset <= Y < offset, Y above, 0 below."""
    unit = beta / 2**MEMBRANE_FRAC_BITS  # real value of one current unit
    shift = max(0, math.floor(math.log2(GELU_STEP / unit)))
    half = math.ceil(GELU_RANGE / unit / 2**shift)  # bins on each side of 0
    mids = ((np.arange(2 * half) - half) * 2**shift + (2**shift - 1) / 2) * unit  # real midpoints
    gelu = 0.5 * mids * (1 + np.vectorize(math.erf)(mids / math.sqrt(2)))
    return np.rint(gelu / unit).astype(np.int64), shift, half * 2**shift


def integer_parameters(model: Any, max_clips: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The fixed-point weights (name -> int array) and scalars of a 1-bit NF SpikingVTG model."""
    from spiking.inputs import sinusoidal_positions

    config = model.config
    f = MEMBRANE_FRAC_BITS
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {
        "leak": int(round(config.leak * 2**LEAK_BITS)),
        "input.threshold": int(round(config.threshold * 2**f)),
    }
    positions = sinusoidal_positions(max_clips, config.hidden_dim, dtype=torch.float64).numpy()  # (max_clips, D)
    readouts = set(readout_convolutions(config).values())  # no neuron: read out
    for key, layer in weight_layers(model).items():
        arrays[f"{key}.sign"], beta = _binary(layer)
        if key.startswith("input."):
            bias = _bias(layer) + (positions if key == "input.video" else 0.0)  # (max_clips, D) or (D,)
            scalars[f"{key}.scale"] = int(round(beta * 2**INPUT_SCALE_FRAC_BITS))
            arrays[f"{key}.bias"] = np.rint(bias * 2**f).astype(np.int64)
            continue
        arrays[f"{key}.bias"] = _folded(_bias(layer), beta)
        if key in readouts:
            scalars[f"{key}.readout_scale"] = beta / 2**f
        else:
            scalars[f"{key}.threshold"] = int(_folded(config.threshold, beta))
        if key.endswith((".so", ".out")):
            scalars[f"{key}.residual"] = int(_folded(1.0, beta))
        if key.endswith(".q"):
            scalars[f"{key}.attention_scale"] = int(round(beta * 2**ATTENTION_SHIFT))
        if key.endswith(".int") and config.activation == "gelu":
            arrays[f"{key}.gelu"], scalars[f"{key}.gelu_shift"], scalars[f"{key}.gelu_offset"] = gelu_table(beta)
    for i in range(config.num_layers):
        scalars[f"layer{i}.attn.threshold"] = int(round(config.threshold * 2**f))
    for name in [name for name in scalars if name.endswith(".threshold")]:
        population = name.removesuffix(".threshold")
        scalars[f"{population}.fire"] = firing_point(scalars[name], config.fire_ratio)
    scalars["sfg.eps"] = int(round(model.sfg.eps * 2**LEAK_BITS))
    pool = model.sfg.pool.weight.detach().double().numpy()[0]  # (D,) W_p stays real: 12 fraction bits
    arrays["sfg.pool"] = np.rint(pool * 2**POOL_FRAC_BITS).astype(np.int64)
    return arrays, scalars


def float_parameters(model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The floating-point weights (the effective beta sgn(.) of 1-bit layers), biases and scalars."""
    from spiking.quant import effective_weight

    arrays: dict[str, np.ndarray] = {}
    for key, layer in weight_layers(model).items():
        arrays[f"{key}.weight"] = effective_weight(layer).detach().double().numpy()
        arrays[f"{key}.bias"] = _bias(layer)
    arrays["sfg.pool"] = model.sfg.pool.weight.detach().double().numpy()[0]
    config = model.config
    scalars = {"leak": float(config.leak), "threshold": float(config.threshold), "fire_ratio": float(config.fire_ratio)}
    return arrays, {**scalars, "sfg.eps": float(model.sfg.eps), "sfg.flat": float(model.sfg.flat)}
