"""SpikingVTG: spiking transformer core, saliency feedback gating, spiking decoders (paper Sec. 4).

``build(config, dims)`` is the registry entry (``vtg.models``: ``spikingvtg`` -> ``spiking.model:build``).
The model follows docs/ARCHITECTURE.md: ``model(batch)``, ``model.loss(outputs, batch)``,
``model.predict(batch, outputs)``, ``model(batch, return_hidden=True)`` for CLRM.

Forward pass:

* The Tc timesteps are simulated by :meth:`SpikingVTG.step` (the discrete-time model, see its
  docstring for the order of operations). Evaluation reads the outputs off the simulation: f and d
  are the temporal means of the decoders' read-outs, s is SFG's score after the last step.
* Training with ``grad: implicit`` (the paper's method, Sec. 4.5) simulates without a graph, takes
  the last layer's ASR z* = a_N[Tc] as the equilibrium and differentiates the steady-state map
  (Eqs. 4-5, :meth:`SpikingVTG.steady_state`) at z* (spiking/implicit.py); the outputs are read at
  that equilibrium as the simulation reads them (:meth:`SpikingVTG.equilibrium_outputs`: SFG and the
  decoders' IF layers at z, their steady state), so every output carries the implicit gradient.
  ``grad: bptt`` back-propagates through the Tc timesteps with surrogate gradients instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spiking.activity import ActivityRecorder, sfg_activity, spiking_vtg_probes
from spiking.config import SpikingVTGConfig
from spiking.decoders import SpikingConvDecoder
from spiking.encoder_layer import SpikingEncoderLayer
from spiking.implicit import ImplicitEquilibrium
from spiking.inference import predictions
from spiking.inputs import InputProjection
from spiking.neuron import (
    RateDrivenCurrent,
    TernaryLIF,
    at_least_float32,
    heaviside_atan,
    reset_neurons,
    steady_state_mode,
)
from spiking.quant import quantised_once
from spiking.sfg import SaliencyFeedbackGate
from vtg.errors import UserError
from vtg.losses.clipwise import ClipwiseCriterion


@dataclasses.dataclass
class Context:
    """What stays constant over the timesteps of one batch."""

    video: torch.Tensor  # (B, Lv, D) V, projected video with positions
    text: torch.Tensor  # (B, Lq, D) Q, projected query
    video_mask: torch.Tensor  # (B, Lv) bool
    token_mask: torch.Tensor  # (B, L) bool, L = Lv + Lq, video tokens first
    sentence: torch.Tensor  # (B, D) M, SFG's pooled sentence


@dataclasses.dataclass
class Step:
    """One timestep of the spiking model (or one application of its steady-state map)."""

    hidden: list[torch.Tensor]  # per layer (B, L, D): output spikes (or equilibrium ASR)
    attentions: list[torch.Tensor]  # per layer (B, H, L, L)
    foreground: torch.Tensor | None  # (B, Lv) f decoder read-out (None: a step run without the decoders)
    boundary: torch.Tensor | None  # (B, Lv, 2) d decoder read-out (before softplus)
    score: torch.Tensor  # (B, Lv) F_s, cosine of the last layer's ASR with M
    gate: torch.Tensor  # (B, Lv) the gate of the next timestep's video input


def straight_through(value, carrier):
    """``value`` forward (exactly), ``carrier``'s gradient backward: value + (carrier - carrier.detach()).

    Training with ``train_readout: simulated`` reads the simulation's outputs (``value``) and
    differentiates them as the steady-state map's (``carrier``), the approximation of the implicit
    method (Sec. 4.5) with the loss of what is deployed (as differentiable spike representations do,
    Meng et al., CVPR 2022). Lists (per-layer states, attentions) are taken element by element.
    """
    if isinstance(value, list):
        return [straight_through(v, c) for v, c in zip(value, carrier)]
    return value.detach() + (carrier - carrier.detach())


class Readout:
    """The spiking model's outputs after the steps added so far: what evaluation and deployment read.

    f and d are the temporal means of the decoders' read-outs over the steps they read (all but the
    first ``decoder_warmup`` share, :meth:`SpikingVTG.decode`), s is SFG's score after the last step,
    the hidden states are the layers' ASRs a_i[t] (Eq. 1), the attentions the mean over the steps.
    """

    def __init__(self):
        self.count = 0
        self.last: Step | None = None
        self.attention_sums: list[torch.Tensor] | None = None  # per layer (B, H, L, L)
        self.video_spikes: list[torch.Tensor] = []  # per step (B, Lv, D): the last layer's, the decoders' input

    def add(self, out: Step, ctx: Context) -> None:
        self.count += 1
        self.last = out
        self.video_spikes.append(out.hidden[-1][:, : ctx.video.shape[1]])
        if self.attention_sums is None:
            self.attention_sums = out.attentions
        else:
            self.attention_sums = [s + a for s, a in zip(self.attention_sums, out.attentions)]

    def outputs(self, model: SpikingVTG, ctx: Context, decode: bool = True) -> dict[str, Any]:
        """The outputs dict of docs/ARCHITECTURE.md after ``count`` steps (the neurons' rates read now);
        ``decode = False`` leaves out the decoders (no ``foreground_logits`` and ``boundary``)."""
        rates = [layer.out_lif.rate for layer in model.layers]  # per layer (B, L, D)
        lv = ctx.video.shape[1]
        return {
            **(model.decode(self.video_spikes, ctx) if decode else {}),
            "saliency": self.last.score,  # (B, Lv) F_s after the last step
            "saliency_gate": self.last.gate,  # (B, Lv) its min-max normalisation
            "video_features": rates[-1][:, :lv],  # (B, Lv, D)
            "hidden_states": rates,
            "attentions": [s / self.count for s in self.attention_sums],  # mean over the steps, (B, H, L, L) each
        }


class SpikingVTG(nn.Module):
    """The SpikingVTG student: base, NF and 1-bit NF variants (paper Secs. 4.1-4.6).

    Attributes:
        inference_tc: timesteps simulated in evaluation mode (``model.inference_tc = 4`` to trade
            accuracy for energy, paper Fig. 4); ``forward(batch, tc=N)`` overrides it for one call.
    """

    def __init__(self, config: SpikingVTGConfig, dims: dict[str, int]):
        super().__init__()
        self.config = config
        self.inference_tc = config.eval_tc
        hidden, binary, nf = config.hidden_dim, config.binary, config.normalization_free
        self.inputs = InputProjection(dims["video_dim"], dims["text_dim"], hidden, binary, config.host_input_layers)
        self.sfg = SaliencyFeedbackGate(hidden, nf, config.sfg)
        self.input_lif = TernaryLIF(config.leak, config.threshold)
        # model.rate_driven: the input neurons' gated current and the intermediate layers' activation are fed
        # as the increments whose running means are their steady-state values (RateDrivenCurrent)
        self.input_current = RateDrivenCurrent(config.leak) if config.rate_driven else None
        self.layers = nn.ModuleList(
            SpikingEncoderLayer(
                hidden,
                config.num_heads,
                config.ffn_dim,
                config.leak,
                config.threshold,
                config.activation,
                nf,
                binary,
                config.rate_driven,
            )
            for _ in range(config.num_layers)
        )
        self.f_decoder = SpikingConvDecoder(hidden, 1, config.f_layers, config.f_kernel, config.threshold, binary)
        self.d_decoder = SpikingConvDecoder(hidden, 2, config.d_layers, config.d_kernel, config.threshold, binary)
        for neuron in self.modules():
            if isinstance(neuron, TernaryLIF):
                neuron.spike_grad = heaviside_atan(config.surrogate_alpha)
                neuron.fire_ratio = config.fire_ratio
        self._scale_initial_weights(config.init_gain, config.input_init_gain)
        self.implicit = ImplicitEquilibrium(config.solver_iters, config.solver_tol, config.solver)
        self.criterion = ClipwiseCriterion(config)

    @torch.no_grad()
    def _scale_initial_weights(self, gain: float, input_gain: float) -> None:
        """W <- gain W for every linear and convolution but SFG's W_p (whose scale the softmax or Eq. 7 sets)
        and the input projections W_v, W_t (W <- input_gain W).

        PyTorch's default initialisation, W ~ U(-1/sqrt(n), 1/sqrt(n)) for fan-in n, is made for real
        inputs of unit variance; here most inputs are sparse spikes and the threshold is fixed, so at
        gain 1 a small model barely spikes (the demo model: mean rate 0.05, no attention-output spike);
        a gain of 3 brings its rates to about 0.3.
        """
        inputs = {id(self.inputs.video), id(self.inputs.text)}
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)) and module is not self.sfg.pool:
                module.weight.mul_(input_gain if id(module) in inputs else gain)

    # ----------------------------------------------------------------------------------------------
    # The discrete-time model

    def prepare(self, batch: dict[str, Any]) -> Context:
        """Project the batch's last feature level and pool the sentence (once per batch)."""
        video, text = batch["video"][:, :, -1], batch["text"][:, :, -1]  # (B, Lv, Dv), (B, Lq, Dt)
        if video.shape[-1] != self.inputs.video.in_features or text.shape[-1] != self.inputs.text.in_features:
            raise UserError(
                f"batch: feature sizes video {video.shape[-1]}, text {text.shape[-1]} do not match the model's "
                f"video_dim {self.inputs.video.in_features}, text_dim {self.inputs.text.in_features}"
            )
        dtype = next(self.parameters()).dtype
        v, q = self.inputs(video.to(dtype), text.to(dtype))  # (B, Lv, D), (B, Lq, D)
        video_mask, text_mask = batch["video_mask"], batch["text_mask"]  # (B, Lv), (B, Lq)
        return Context(
            video=v,
            text=q,
            video_mask=video_mask,
            token_mask=torch.cat([video_mask, text_mask], dim=1),  # (B, L)
            sentence=self.sfg.sentence(q, text_mask),  # (B, D)
        )

    def _core(self, ctx: Context, gate: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Input neurons and encoder layers for one timestep, given this step's gate (B, Lv)."""
        current = torch.cat([ctx.video * gate[:, :, None], ctx.text], dim=1)  # (B, L, D) [Vbar; Q], Eq. 2
        current = current * ctx.token_mask[:, :, None]  # padded tokens get no current
        if self.input_current is not None:  # rate-driven: the running mean current is this step's [Vbar; Q]
            current = self.input_current(current)
        x = self.input_lif(current)  # (B, L, D)
        hidden, attentions = [], []
        for layer in self.layers:
            x, weights = layer(x, ctx.token_mask)  # (B, L, D), (B, H, L, L)
            hidden.append(x)
            attentions.append(weights)
        return hidden, attentions

    def _decode(self, video_activity: torch.Tensor, ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
        """Both decoders on the last layer's video tokens (B, Lv, D) -> f (B, Lv), d (B, Lv, 2)."""
        foreground = self.f_decoder(video_activity, ctx.video_mask)[:, :, 0]  # (B, Lv)
        return foreground, self.d_decoder(video_activity, ctx.video_mask)  # (B, Lv), (B, Lv, 2)

    def decode(self, video_spikes: list[torch.Tensor], ctx: Context) -> dict[str, torch.Tensor]:
        """Both decoders, from rest, over the last layer's video spikes of steps k + 1 .. t (t tensors (B, Lv, D)).

        k = ``config.decoder_warmup_steps(t)`` skips the encoder's first steps, whose transient
        drives the IF decoders away from the rates they would reach on the encoder's settled output
        (docs/STUDENT_FIDELITY.md); f = mean of conv_f's read-outs over the steps read, d = softplus of
        conv_d's mean.
        """
        start = self.config.decoder_warmup_steps(len(video_spikes))
        spikes = torch.stack(video_spikes[start:])  # (T - k, B, Lv, D)
        # the temporal means in float32 at least (under autocast the convolutions' read-outs are half precision)
        foreground = at_least_float32(self.f_decoder.run(spikes, ctx.video_mask)[..., 0]).mean(0)  # (B, Lv)
        boundary = at_least_float32(self.d_decoder.run(spikes, ctx.video_mask)).mean(0)  # (B, Lv, 2)
        return {"foreground_logits": foreground, "boundary": F.softplus(boundary)}

    def step(self, ctx: Context, gate: torch.Tensor, decode: bool = True) -> Step:
        """One timestep t of the spiking model; ``gate`` (B, Lv) is Fbar_s[t-1] (:meth:`first_gate`, g0 on
        real clips, at the first step).

        Order of operations (every neuron: u <- gamma u + I; s = +1 if u >= r Vth, -1 if u <= -r Vth,
        else 0, r = fire_ratio; u <- u - Vth s; its ASR is updated with s in the same call; there is no synaptic delay,
        so a spike emitted at step t reaches every downstream layer within step t):

        1. input current I_in = [V * gate; Q] on real tokens (0 on padding);   s_in = LIF_in(I_in)
        2. for each encoder layer, with x its input spikes (s_in for layer 0):
           a. q = W_q x + b_q;  s_k = LIF_k(W_k x + b_k);  s_v = LIF_v(W_v x + b_v)
           b. alpha = ReLU(q s_k^T) / L (NF; softmax(q s_k^T / sqrt(d_h)) in base) per head, padded keys 0
           c. s_attn = LIF_attn(alpha s_v)
           d. s_so = LIF_so(W_so s_attn + b_so + x)            (LayerNorm around the sum in base)
           e. s_int = LIF_int(act(W_int s_so + b_int))
           f. x = s_out = LIF_out(W_out s_int + b_out + s_so)  (LayerNorm around the sum in base)
        3. SFG: a_Nv = ASR of the last layer's out neurons on the video tokens (gamma-weighted, after
           this step); F_s = a_Nv . M / (sqrt(||a_Nv||^2 + 0.1^2) ||M||); the next step's gate =
           (F_s - min) / (max - min) over the real clips, 1 if max - min <= 1e-6 (and 1 without SFG)
        4. decoders on the last layer's spikes of the real clips (padding zeroed):
           h = IF(conv(h)) for all but the last convolution; read-outs f[t] = conv_f(h_f),
           d[t] = conv_d(h_d); the model averages them over the steps after the decoders' warm-up
           (:meth:`decode`).

        In 1-bit NF every W above (the convolutions too, and the input projections that made V and Q)
        is beta * sgn(W - mean W); W_p of SFG stays real.

        ``decode = False`` leaves out step 4 (``foreground`` and ``boundary`` are then None): nothing
        upstream reads the decoders, so their steps can run later, all at once (:meth:`simulate`).
        """
        hidden, attentions = self._core(ctx, gate)
        lv = ctx.video.shape[1]
        score, next_gate = self.sfg(self.layers[-1].out_lif.rate[:, :lv], ctx.sentence, ctx.video_mask)
        foreground = boundary = None
        if decode:
            foreground, boundary = self._decode(hidden[-1][:, :lv], ctx)
        return Step(hidden, attentions, foreground, boundary, score, next_gate)

    def steady_state(self, z: torch.Tensor, ctx: Context) -> Step:
        """The steady-state map (Eqs. 4-5) at the last layer's equilibrium ASR z (B, L, D).

        Every neuron returns clamp(I / Vth, -1, 1) of its rate-driven input current; the gate is SFG
        applied to z (Eq. 5), so ``steady_state(z).hidden[-1]`` is F(z) with the fixed point z* = F(z*).
        ``hidden`` holds each layer's equilibrium ASR; the decoders are left out (``foreground`` and
        ``boundary`` None): F does not need them, and the equilibrium's read-outs are
        :meth:`equilibrium_outputs`'.
        """
        lv = ctx.video.shape[1]
        with steady_state_mode(self):
            score, gate = self.sfg(z[:, :lv], ctx.sentence, ctx.video_mask)
            hidden, attentions = self._core(ctx, gate)
        return Step(hidden, attentions, None, None, score, gate)

    def first_gate(self, video_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The gate of the first step's video input, before any score: g0 on real clips, 0 on padding."""
        return self.config.initial_gate * video_mask.to(dtype)  # (B, Lv)

    def steps(self, ctx: Context, tc: int, decode: bool = True) -> Iterator[Step]:
        """The Tc timesteps from rest, one :class:`Step` at a time (neurons reset first; no quantisation
        context: wrap the loop in :func:`spiking.quant.quantised_once` to derive 1-bit weights once)."""
        reset_neurons(self)
        gate = self.first_gate(ctx.video_mask, ctx.video.dtype)  # (B, Lv)
        for _ in range(tc):
            out = self.step(ctx, gate, decode)
            gate = out.gate
            yield out

    def simulate(
        self, ctx: Context, tc: int, activity: bool = True, decode: bool = True
    ) -> tuple[dict[str, Any], torch.Tensor]:
        """Run Tc timesteps from rest; returns the spiking model's outputs and z* = a_N[Tc] (B, L, D).

        The 1-bit weights are quantised once for the Tc steps (:func:`spiking.quant.quantised_once`);
        ``activity = False`` leaves out the activity probes (``outputs["activity"]`` is then absent). The
        decoders run after the encoder's Tc steps, on all of its recorded video spikes at once
        (:meth:`SpikingConvDecoder.run`); ``decode = False`` skips them (no ``foreground_logits`` and
        ``boundary`` in the outputs: implicit training reads the map's instead).
        """
        readout = Readout()
        probes = spiking_vtg_probes(self, ctx.token_mask, ctx.video_mask) if activity else []
        with quantised_once(self), ActivityRecorder(probes) as recorder:
            for out in self.steps(ctx, tc, decode=False):
                readout.add(out, ctx)
            outputs = readout.outputs(self, ctx, decode)  # the decoders, on all steps at once
        if activity:
            outputs["activity"] = recorder.result()
            # the last layer's spikes reach the decoders only once they read (after their warm-up steps)
            outputs["activity"]["decoder.input"]["spikes"][: self.config.decoder_warmup_steps(tc)] = 0
            outputs["activity"]["sfg"] = sfg_activity(tc, ctx.video_mask, self.config.hidden_dim)
        return outputs, outputs["hidden_states"][-1]

    # ----------------------------------------------------------------------------------------------
    # The model interface of docs/ARCHITECTURE.md

    def forward(
        self, batch: dict[str, Any], tc: int | None = None, return_hidden: bool = False, activity: bool = False
    ) -> dict[str, Any]:
        """Clip-wise outputs; ``tc`` defaults to ``config.tc`` in training and ``inference_tc`` otherwise.

        ``outputs["activity"]`` (the spike counts of the energy estimates) is recorded only when
        ``activity=True`` (the energy commands ask for it): its probes cost about a tenth of an evaluation
        forward at the demo's size, which prediction and validation have no use for.
        """
        tc = tc if tc is not None else (self.training_tc() if self.training else self.inference_tc)
        if tc < 1:
            raise UserError(f"field 'model.inference_tc': must be >= 1, got {tc}")
        ctx = self.prepare(batch)
        implicit = self.training and self.config.grad == "implicit" and torch.is_grad_enabled()
        if not implicit:
            outputs, _ = self.simulate(ctx, tc, activity)
        else:
            train_readout = self.config.train_readout
            # the map's read-outs replace the decoders' unless the loss reads both (or their activity is asked)
            decode = train_readout != "steady_state" or activity
            with torch.no_grad():
                outputs, z_star = self.simulate(ctx, tc, activity, decode)
            equilibrium = self.at_equilibrium(ctx, z_star)
            if train_readout != "steady_state":
                simulated = {key: straight_through(outputs[key], value) for key, value in equilibrium.items()}
                if train_readout == "simulated":
                    equilibrium = simulated
                else:
                    outputs["simulated"] = simulated  # read by loss(): the task loss of each, averaged
            outputs.update(equilibrium)
        outputs["sentence"] = ctx.sentence  # (B, D)
        outputs["video_mask"] = ctx.video_mask
        if not return_hidden:
            del outputs["hidden_states"], outputs["attentions"]
        return outputs

    def training_tc(self) -> int:
        """Tc of a training step: ``config.tc``, or drawn uniformly from ``tc_min..tc`` (torch's generator)."""
        low, high = self.config.tc_min or self.config.tc, self.config.tc
        return int(torch.randint(low, high + 1, ())) if low < high else high

    def at_equilibrium(self, ctx: Context, z_star: torch.Tensor) -> dict[str, Any]:
        """The differentiable outputs at the equilibrium z*, with the implicit gradient of Sec. 4.5."""
        with quantised_once(self):  # one quantisation (and one graph to the latent weights) for every F below
            if self.sfg.enabled:
                z = self.implicit(lambda state: self.steady_state(state, ctx).hidden[-1], z_star)  # (B, L, D)
            else:  # without feedback the map ignores z (J = 0): F(z*) is its fixed point
                z = self.steady_state(z_star, ctx).hidden[-1]  # (B, L, D)
            return self.equilibrium_outputs(z, ctx)

    def equilibrium_outputs(self, z: torch.Tensor, ctx: Context) -> dict[str, Any]:
        """The outputs dict read at the last layer's ASR z (B, L, D), with the map applied to z once.

        The read-outs are defined as the simulation's (:class:`Readout`), with z in place of a_N[t]:
        SFG's score and gate at z (the simulation's at a_N[t]), the decoders' steady-state read-outs of
        z (the simulation's decoders read the last layer's spikes, whose rate z is) and the video
        features z. Reading them at F(z) instead put training one application of F
        past what is deployed: on a held-out world the simulated and map metrics were 3.4 / 5.0 points
        apart that way, 0.8 / 2.3 this way (docs/STUDENT_FIDELITY.md). The layers' ASRs and attentions
        are the map's given SFG(z), what CLRM distils.
        """
        lv = ctx.video.shape[1]
        eq = self.steady_state(z, ctx)
        with steady_state_mode(self):
            foreground, boundary = self._decode(z[:, :lv], ctx)  # (B, Lv), (B, Lv, 2)
        return {
            "foreground_logits": foreground,
            "boundary": F.softplus(boundary),
            "saliency": eq.score,  # (B, Lv)
            "saliency_gate": eq.gate,  # (B, Lv)
            "video_features": z[:, :lv],  # (B, Lv, D)
            "hidden_states": eq.hidden,
            "attentions": eq.attentions,
        }

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """UniVTG's clip-wise losses (paper Sec. 4.5, Appendix B; :mod:`vtg.losses.clipwise`).

        With ``train_readout: both`` each term is the mean of the term on the steady-state read-outs and
        on the simulated ones (``outputs["simulated"]``, the map's gradient).
        """
        losses = self.criterion(outputs, batch)
        if "simulated" not in outputs:
            return losses
        simulated = self.criterion({**outputs, **outputs["simulated"]}, batch)
        return {name: (value + simulated[name]) / 2 for name, value in losses.items()}

    @torch.no_grad()
    def predict(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, Any]]:
        return predictions(batch, outputs, self.config.nms_threshold, self.config.max_windows)


def build(config: dict[str, Any], dims: dict[str, int]) -> SpikingVTG:
    """Build SpikingVTG from the ``model:`` section and the data dimensions (``video_dim``, ``text_dim``)."""
    parsed = SpikingVTGConfig.from_dict(config)
    for key in ("video_dim", "text_dim"):
        value = dims.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"dataset: '{key}' must be a positive integer, got {value!r}")
    return SpikingVTG(parsed, dims)
