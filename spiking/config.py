"""The ``model:`` section of a SpikingVTG config, checked field by field.

Defaults are the paper's size where it states one (D = 1024, 4 encoder layers as UniVTG, Tc = 10 as
in its energy table, NMS at 0.7, 1-D conv decoders) and UniVTG's loss weights (the paper's losses
follow UniVTG, its Appendix B). Where neither says, the choice is ours and documented here:
gamma = 0.99, Vth = 1, 8 heads, 3-layer kernel-3 decoders (UniVTG's heads), ffn_dim = D (the
paper's energy formula counts 2 L D^2 for the feed-forward pair, i.e. an intermediate size of D).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from vtg.config import dataclass_fields_from_mapping
from vtg.errors import UserError
from vtg.losses.clipwise_config import ClipwiseHeadConfig

VARIANTS = ("base", "nf", "1bit_nf")
ACTIVATIONS = ("gelu", "relu")
GRADIENTS = ("implicit", "bptt")
SOLVERS = ("gmres", "fixed_point")
READOUTS = ("simulated", "steady_state", "both")


def host_input_layers(fields: dict[str, Any]) -> int:
    """Host input layers per modality of a ``model:`` mapping: ``input_mlp_layers`` (default 1) with
    ``input_mlp``, else 0 (also for an exported bundle's ``model_config``)."""
    return fields.get("input_mlp_layers", 1) if fields.get("input_mlp") else 0


def decoder_warmup_steps(warmup: float, tc: int) -> int:
    """k = min(ceil(warmup Tc), Tc - 1), the one rule of the model, its exports and the Lava processes.

    Rounded up, so that any warm-up skips at least the first step, the one the saliency gate has not yet
    seen (SFG gates step t with the encoder's output of step t - 1, Eq. 2): at Tc 2 this took MR-full-R1@0.5
    from 48.4 to 50.8 (docs/STUDENT_FIDELITY.md). At most Tc - 1, so that the decoders read at least the
    last step whatever a bundle holds. (The product is rounded to 9 decimals first: 0.3 x 10 is 3, not 4.)
    """
    return min(math.ceil(round(warmup * tc, 9)), tc - 1)


def decoder_read_steps(warmup: float, tc: int) -> int:
    """Tc - k, the steps of a Tc-step simulation the decoders read: the divisor of their read-out's mean."""
    return tc - decoder_warmup_steps(warmup, tc)


@dataclasses.dataclass(frozen=True)
class SpikingVTGConfig(ClipwiseHeadConfig):
    """The model's own fields, after the losses' and post-processing's of :class:`ClipwiseHeadConfig`."""

    variant: str = "base"  # base | nf (no softmax, no LayerNorm) | 1bit_nf (NF with 1-bit weights)
    activation: str = "gelu"  # gelu | relu, the intermediate layer's activation
    hidden_dim: int = 1024
    num_layers: int = 4
    num_heads: int = 8
    ffn_dim: int = 1024
    tc: int = 10  # timesteps simulated in training (the most, when tc_min is set)
    # training Tc drawn per batch, uniformly from tc_min..tc (None: always tc), so that the weights learn
    # to give good read-outs at every Tc a deployment may choose (paper Fig. 4's trade-off)
    tc_min: int | None = None
    inference_tc: int | None = None  # timesteps at evaluation; None = tc
    leak: float = 0.99  # gamma of the encoder's LIF neurons (the decoders' IF neurons have gamma = 1)
    threshold: float = 1.0  # Vth of every neuron
    # a neuron fires at |u| >= fire_ratio * Vth and subtracts Vth: 1 is Eq. 1 (the rate after t steps is
    # I / Vth truncated towards 0, error < 1 / t); 0.5 rounds it to the nearest multiple of 1 / t (error
    # <= 1 / (2 t), no bias), the half-threshold start of ANN-SNN conversion (Bu et al., ICLR 2022)
    # made symmetric for ternary spikes. The steady state (Eq. 4) is the same for both.
    fire_ratio: float = 1.0
    sfg: bool = True  # saliency feedback gating; False = the ablation without SFG (gate = 1)
    grad: str = "implicit"  # implicit (at equilibrium) | bptt (surrogate gradients through time)
    # what the training loss reads: ``simulated``, the spiking simulation's read-outs after Tc steps (what
    # evaluation and deployment read) with the gradient of the steady-state map at z* (straight through);
    # ``steady_state``, the map's own read-outs at z* (the paper's Sec. 4.5, exact only at equilibrium);
    # ``both``, the mean of the two losses
    train_readout: str = "steady_state"
    # share of the Tc steps the decoders wait before they read the encoder: they run from rest over steps
    # k + 1 .. Tc, k = ceil(decoder_warmup Tc). The encoder's first steps are a transient (the first gate,
    # the layers fill up) that drives the IF decoders away from what the settled spikes give:
    # docs/STUDENT_FIDELITY.md. Evaluation and deployment, and the simulated read-outs of train_readout
    # simulated or both; the steady-state read-outs (train_readout steady_state) have no steps to skip
    decoder_warmup: float = 0.0
    # the gate of the first step's video input, g0 x mask, before SFG has a score (Eq. 2 gates step t + 1
    # with step t's). 1 lets every clip in ungated, and the input neurons (leak 0.99) keep that excess charge
    # for the whole window; a gate near the settled gates' level starts the encoder nearer its fixed point:
    # docs/STUDENT_FIDELITY.md. It applies with sfg: false too (the first step's input scaled by g0, every
    # later step's by 1), so that the ablation changes the feedback and nothing else
    initial_gate: float = 1.0
    # rate-driven currents: the input neurons and each intermediate layer get the current whose running mean
    # is the steady-state map's current at the rates so far (spiking.neuron.RateDrivenCurrent), instead of the
    # gate and activation applied to each step's spikes, whose mean the map does not compute. False is the
    # paper's model. The simulation then converges to the map it is trained on: docs/STUDENT_FIDELITY.md
    rate_driven: bool = False
    solver: str = "gmres"  # gmres | fixed_point, the implicit backward's adjoint solver (spiking/implicit.py)
    solver_iters: int = 30  # vector-Jacobian products per adjoint solve; 0 = Jacobian-free back-propagation
    solver_tol: float = 1e-4  # relative residual at which the adjoint solve stops
    surrogate_alpha: float = 2.0  # slope of the arc-tangent surrogate (bptt only)
    # multiplies PyTorch's default initial weights of the projections, encoder layers and decoders (not W_p):
    # the currents, hence the spike rates, scale with it (with 1-bit weights through beta = mean|W|)
    init_gain: float = 1.0
    # the same for the input projections W_v, W_t: their inputs are L2-normalised features (entries ~ 1/sqrt(D_in)),
    # so at gain 1 V is ~10 times smaller than the clip positions P added to it (entries of size 1)
    input_init_gain: float = 1.0
    # real-valued LayerNorm-Linear-ReLU layers per modality before the input projections, computed once per
    # query on the host like the features (UniVTG's input projection; spiking/inputs.py)
    input_mlp: bool = False
    input_mlp_layers: int = 1  # how many such layers when input_mlp is true (UniVTG's input projection has 2)
    f_layers: int = 3
    f_kernel: int = 3
    d_layers: int = 3
    d_kernel: int = 3

    @property
    def normalization_free(self) -> bool:
        return self.variant in ("nf", "1bit_nf")

    @property
    def host_input_layers(self) -> int:
        """Host input layers per modality (0 without ``input_mlp``)."""
        return host_input_layers(vars(self))

    def decoder_warmup_steps(self, tc: int) -> int:
        """The encoder steps of a Tc-step simulation that the decoders do not read (:func:`decoder_warmup_steps`)."""
        return decoder_warmup_steps(self.decoder_warmup, tc)

    def decoder_read_steps(self, tc: int) -> int:
        """The steps of a Tc-step simulation that the decoders read (:func:`decoder_read_steps`)."""
        return decoder_read_steps(self.decoder_warmup, tc)

    @property
    def binary(self) -> bool:
        return self.variant == "1bit_nf"

    @property
    def eval_tc(self) -> int:
        return self.tc if self.inference_tc is None else self.inference_tc

    @classmethod
    def from_dict(cls, section: dict[str, Any], where: str = "model") -> SpikingVTGConfig:
        """Build from a config mapping; unknown fields, wrong types and bad values are :class:`UserError`.

        ``name`` (the registry key) is accepted and ignored.
        """
        values = dataclass_fields_from_mapping(cls, section, where)
        config = cls(**values)
        config._check(where)
        return config

    def idle_fields(self) -> dict[str, str]:
        """Fields set away from their defaults that change nothing under the rest of the config -> why
        (``vtg train`` notes them: a value that is silently not used looks like one that is)."""
        idle: dict[str, str] = {}
        if self.grad == "bptt":  # surrogate gradients through the Tc steps: no map, no adjoint
            idle.update(dict.fromkeys(("train_readout", "solver", "solver_iters", "solver_tol"), "grad: implicit only"))
        else:
            idle["surrogate_alpha"] = "grad: bptt only"
            if not self.sfg:  # without the feedback the map does not read z: its Jacobian is 0, nothing to solve
                idle.update(dict.fromkeys(("solver", "solver_iters", "solver_tol"), "sfg: true only"))
            elif self.solver_iters == 0:  # Jacobian-free back-propagation solves nothing
                idle.update(dict.fromkeys(("solver", "solver_tol"), "an adjoint solve (solver_iters > 0) only"))
        defaults = type(self)()
        return {
            name: f"{getattr(self, name)!r} has no effect: it applies to {why}"
            for name, why in idle.items()
            if getattr(self, name) != getattr(defaults, name)
        }

    def _check(self, where: str) -> None:
        def fail(name: str, message: str) -> None:
            raise UserError(f"field '{where}.{name}': {message}, got {getattr(self, name)!r}")

        choices_of = {
            "variant": VARIANTS,
            "activation": ACTIVATIONS,
            "grad": GRADIENTS,
            "solver": SOLVERS,
            "train_readout": READOUTS,
        }
        for name, choices in choices_of.items():
            if getattr(self, name) not in choices:
                fail(name, f"must be one of {', '.join(choices)}")
        self.check_clipwise_fields(where)
        for name in ("hidden_dim", "num_layers", "num_heads", "ffn_dim", "tc"):
            if getattr(self, name) < 1:
                fail(name, "must be >= 1")
        if self.input_mlp_layers < 1:
            fail("input_mlp_layers", "must be >= 1")
        for name in ("f_layers", "d_layers"):
            if getattr(self, name) < 1:
                fail(name, "must be >= 1 (the read-out convolution counts)")
        if self.solver_iters < 0:
            fail("solver_iters", "must be >= 0")
        if self.inference_tc is not None and self.inference_tc < 1:
            fail("inference_tc", "must be >= 1")
        if self.tc_min is not None and not 1 <= self.tc_min <= self.tc:
            fail("tc_min", f"must be between 1 and tc={self.tc}")
        if self.hidden_dim % self.num_heads:
            fail("hidden_dim", f"must be divisible by num_heads={self.num_heads}")
        for name in ("f_kernel", "d_kernel"):
            if getattr(self, name) < 1 or getattr(self, name) % 2 == 0:
                fail(name, "must be odd and >= 1 (one output per clip)")
        if not 0.0 < self.leak <= 1.0:
            fail("leak", "must be in (0, 1]")
        if not 0.0 <= self.decoder_warmup < 1.0:
            fail("decoder_warmup", "must be in [0, 1)")
        if not 0.0 <= self.initial_gate <= 1.0:
            fail("initial_gate", "must be in [0, 1]")
        if not 0.5 <= self.fire_ratio <= 1.0:
            # below 1/2 a spike's subtraction of Vth overshoots past the opposite firing point: the neuron
            # alternates +1, -1 forever on a zero current, its rate right and its spike counts (energy) not
            fail("fire_ratio", "must be in [0.5, 1]")
        for name in ("threshold", "solver_tol", "surrogate_alpha", "init_gain", "input_init_gain"):
            if getattr(self, name) <= 0:
                fail(name, "must be > 0")
