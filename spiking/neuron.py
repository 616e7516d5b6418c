"""Ternary leaky integrate-and-fire neuron of SpikingVTG (paper Eq. 1), built on snnTorch's LIF base.

The neuron keeps its state (membrane potential and the running average spiking rate) between calls,
like snnTorch's ``init_hidden=True`` neurons, so that a layer reads as a plain feed-forward module and
one call is one timestep. It has two modes:

* spiking (default): one discrete timestep of Eq. 1, ternary spikes, subtractive reset;
* steady state (``steady_state = True``): the equilibrium map of Eq. 4, a* = clamp(I / Vth, -1, 1),
  used to differentiate at equilibrium (Xiao et al., NeurIPS 2021; SpikingBERT, AAAI 2024).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from snntorch._neurons.neurons import LIF, SpikingNeuron


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` promoted to float32 if it is in a lower precision (float64 stays float64)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


class _HeavisideATan(torch.autograd.Function):
    """H(x) = 1 if x >= 0 else 0, with the arc-tangent surrogate gradient in the backward pass.

    dH/dx ~ (alpha / 2) / (1 + (pi alpha x / 2)^2)  (Fang et al., ICCV 2021, as in snnTorch's ``atan``).
    snnTorch's own ``atan`` fires on x > 0; Eq. 1 fires on u >= Vth, which matters in fixed point
    (the Lava model compares integers, where u == Vth happens).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        slope = ctx.alpha / 2 / (1 + (math.pi / 2 * ctx.alpha * x) ** 2)
        return grad_output * slope, None


def heaviside_atan(alpha: float = 2.0):
    """Spike function for snnTorch's ``spike_grad``: step at 0 (inclusive), arc-tangent surrogate."""

    def spike(x: torch.Tensor) -> torch.Tensor:
        return _HeavisideATan.apply(x, alpha)

    return spike


def ternary_spikes(mem: torch.Tensor, fire_at: float | torch.Tensor) -> torch.Tensor:
    """s = +1 where u >= theta, -1 where u <= -theta, 0 elsewhere, in u's dtype (no graph; float membranes
    here, the integer reference's int64 ones in export/integer_reference.py).

    Run eagerly, the comparisons write straight into float tensors (``out=``): a bool result cast to
    float cost five times the comparisons on the 2-core AMD machine (the cast is not vectorised; the demo
    student's training step 11% faster so). Traced (ONNX export), comparisons and casts, which the graph
    keeps (a comparison with ``out=`` does not trace); the same numbers.
    """
    if torch.jit.is_tracing():
        return (mem >= fire_at).to(mem.dtype) - (mem <= -fire_at).to(mem.dtype)
    spikes = torch.ge(mem, fire_at, out=torch.empty_like(mem))
    return spikes.sub_(torch.le(mem, -fire_at, out=torch.empty_like(mem)))


class TernaryLIF(LIF):
    """Ternary leaky integrate-and-fire neuron with subtractive reset (SpikingVTG, Eq. 1).

    .. math::

        u[t+\\delta] &= \\gamma u[t] + I[t]  \\qquad (I[t] = W s_{prev}[t] + b) \\\\
        s[t+1] &= +1 \\text{ if } u[t+\\delta] \\ge r V_{th};\\ -1 \\text{ if } u[t+\\delta] \\le -r V_{th};
                  \\ 0 \\text{ otherwise} \\\\
        u[t+1] &= u[t+\\delta] - V_{th} s[t+1] \\\\
        a[t] &= \\sum_{\\tau \\le t} \\gamma^{t-\\tau} s[\\tau] / \\sum_{\\tau \\le t} \\gamma^{t-\\tau}

    r is ``fire_ratio`` (1 in Eq. 1; 0.5 rounds the rate instead of truncating it, spiking/config.py).
    The ternary spike is two of snnTorch's threshold crossings, ``fire(u) - fire(-u)``, with
    snnTorch's ``threshold``, ``beta`` (= gamma) and surrogate ``spike_grad`` (used only when
    back-propagating through time). The reset is detached from the graph, as snnTorch's ``mem_reset``
    does. gamma = 1 gives the integrate-and-fire (IF) neuron of the decoders (paper Sec. 4.4), whose
    ASR is the plain mean of the spikes.

    State and threshold comparisons are in float32 at least: under mixed precision (autocast) the
    current arrives in bfloat16 or float16, whose 8 or 11 significant bits cannot hold a membrane
    summed over Tc steps (bfloat16 rounds gamma = 0.99 itself to 0.988); the spikes, -1, 0 or 1, are
    exact in any precision and go on in float32, which autocast casts down where the next product runs.

    In steady-state mode the call returns the equilibrium ASR of Eqs. 4-5 instead,
    a* = clamp(I / Vth, -1, 1), where I is the (rate-driven) input current: this is the map that is
    differentiated at equilibrium.

    Example::

        import torch
        from spiking.neuron import TernaryLIF

        lif = TernaryLIF(gamma=0.9, threshold=1.0)
        lif.reset_state()
        current = torch.tensor([0.6, -1.2, 0.1])
        for t in range(3):
            spikes = lif(current)      # (3,) in {-1, 0, 1}
        rate = lif.rate                # (3,) the ASR a[t] after 3 steps
    """

    def __init__(
        self, gamma: float = 1.0, threshold: float = 1.0, surrogate_alpha: float = 2.0, fire_ratio: float = 1.0
    ):
        super().__init__(
            beta=gamma, threshold=threshold, spike_grad=heaviside_atan(surrogate_alpha), reset_mechanism="subtract"
        )
        # snnTorch keeps every neuron in a class-level list for its init_hidden helpers, which would keep
        # every model ever built alive; this neuron manages its own state, so it leaves that list.
        if SpikingNeuron.instances and SpikingNeuron.instances[-1] is self:
            SpikingNeuron.instances.pop()
        self.fire_ratio = fire_ratio
        self.steady_state = False
        self.reset_state()

    def reset_state(self) -> None:
        """Forget the membrane potential and the spike history (call before each new input)."""
        self.mem: torch.Tensor | None = None
        self._rate_sum: torch.Tensor | None = None  # sum_tau gamma^(t - tau) s[tau]
        self._rate_norm = 0.0  # sum_tau gamma^(t - tau)
        # gamma and Vth as Python numbers for the timesteps to come (snnTorch keeps them as tensors, and
        # reading one as a number at every step costs more than the step's arithmetic at small sizes)
        self._gamma, self._vth = float(self.beta), float(self.threshold)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        """One timestep: input current I[t] -> spikes s[t+1] in {-1, 0, 1} (or a* in steady-state mode)."""
        current = at_least_float32(current)
        if self.steady_state:
            return torch.clamp(current / self.threshold, -1.0, 1.0)
        if not torch.is_grad_enabled():
            return self._step_in_place(current)
        mem = current if self.mem is None else self._gamma * self.mem + current  # u[t + delta]
        fire_at = self.fire_ratio * self._vth
        # +1 at u >= theta, -1 at u <= -theta, with the surrogate gradient
        spikes = self.spike_grad(mem - fire_at) - self.spike_grad(-mem - fire_at)
        self.mem = mem - self._vth * spikes.detach()  # reset by subtraction
        self._rate_sum = spikes if self._rate_sum is None else self._gamma * self._rate_sum + spikes
        self._rate_norm = self._gamma * self._rate_norm + 1.0
        return spikes

    def _step_in_place(self, current: torch.Tensor) -> torch.Tensor:
        """The same timestep without a graph, updating the state tensors in place.

        Equal to the graph path bit for bit: the comparisons are those of u - theta >= 0 and -u - theta
        >= 0, and the products by gamma are rounded before the sums as there (the reset u - Vth s is
        exact in either form, s being -1, 0 or 1).
        """
        fire_at = self.fire_ratio * self._vth
        if self.mem is None:
            self.mem = current.clone()  # u[delta] = I[0] from rest
        else:
            self.mem.mul_(self._gamma).add_(current)  # u[t + delta] = gamma u[t] + I[t]
        spikes = ternary_spikes(self.mem, fire_at)  # {-1, 0, 1}
        self.mem.sub_(spikes, alpha=self._vth)  # reset by subtraction
        if self._rate_sum is None:
            self._rate_sum = spikes.clone()
        else:
            self._rate_sum.mul_(self._gamma).add_(spikes)
        self._rate_norm = self._gamma * self._rate_norm + 1.0
        return spikes

    @property
    def rate(self) -> torch.Tensor:
        """The average spiking rate a[t] of Eq. 1 over the steps since :meth:`reset_state`."""
        if self._rate_sum is None:
            raise RuntimeError("TernaryLIF.rate read before any timestep was simulated")
        return self._rate_sum / self._rate_norm

    @property
    def driven_rate(self) -> torch.Tensor:
        """clamp(mean current / Vth, -1, 1): the ASR that the neuron's input so far asks for.

        Reset by subtraction keeps sum_tau gamma^(t-tau) I[tau] = Vth sum_tau gamma^(t-tau) s[tau] + u[t],
        so this is clamp(a[t] + u[t] / (Vth N[t]), -1, 1), N[t] = sum_tau gamma^(t-tau) (paper Sec. 4.5:
        a_i[t] = (f(a_(i-1)[t]) + b_i - u_i[t] / sum_j gamma^j) / Vth). The ASR a[t] differs from it by the
        neuron's own rounding, the membrane's remainder, which falls as 1 / N[t] and nothing else removes.
        """
        return torch.clamp(self.rate + self.mem / (self._vth * self._rate_norm), -1.0, 1.0)

    def extra_repr(self) -> str:
        return f"gamma={float(self.beta)}, threshold={float(self.threshold)}, fire_ratio={self.fire_ratio}"


class RateDrivenCurrent(torch.nn.Module):
    """The current that drives a neuron's running mean input to a value P read off running rates.

    A neuron whose current is a non-linear function of other neurons' spikes (the intermediate layer's
    act(W s + b), the input neurons' SFG-gated [V g; Q]) sees that function of their *rates* in the
    steady-state map (Eq. 4), but of each step's *spikes* in the simulation, and the mean of a function
    is not the function of the mean: on the demo student this alone kept the map's and the simulation's
    rates 12-13% apart at any Tc (docs/STUDENT_FIDELITY.md). Given P[t], the value at the rates after
    step t, this module returns

    .. math::

        I[t] = N[t] P[t] - \\gamma N[t-1] P[t-1], \\qquad
        N[t] = \\sum_{\\tau \\le t} \\gamma^{t-\\tau} = \\gamma N[t-1] + 1

    whose gamma-weighted mean over the steps so far telescopes to exactly P[t]: the neuron's ASR is then
    clamp(P[t] / Vth, -1, 1) up to its own rounding (|u[t]| / (Vth N[t])), as the map says. A constant P
    gives I = P. In steady-state mode (``steady_state = True``) P is passed through. Its state is reset
    with the neurons' (:func:`reset_neurons`).
    """

    def __init__(self, gamma: float):
        super().__init__()
        self.gamma = gamma
        self.steady_state = False
        self.reset_state()

    def reset_state(self) -> None:
        self._norm = 0.0  # N[t]
        self._previous: torch.Tensor | None = None  # N[t-1] P[t-1]

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        """P[t] -> I[t] (same shape), in float32 at least (N[t] P[t] - gamma N[t-1] P[t-1] is a difference
        of two numbers up to N[t] times larger than I: half precision would lose it)."""
        value = at_least_float32(value)
        if self.steady_state:
            return value
        self._norm = self.gamma * self._norm + 1.0
        total = self._norm * value  # N[t] P[t]
        current = total if self._previous is None else total - self.gamma * self._previous
        self._previous = total
        return current


@contextlib.contextmanager
def steady_state_mode(module: torch.nn.Module) -> Iterator[None]:
    """Inside the block every :class:`TernaryLIF` and :class:`RateDrivenCurrent` of ``module`` is in
    steady-state mode (the map of Eq. 4); after it, each in the mode it had before, whatever the block
    raised (so that a block nested in another leaves the outer one's mode alone)."""
    before = [(m, m.steady_state) for m in module.modules() if isinstance(m, (TernaryLIF, RateDrivenCurrent))]
    for neuron, _ in before:
        neuron.steady_state = True
    try:
        yield
    finally:
        for neuron, steady in before:
            neuron.steady_state = steady


def reset_neurons(module: torch.nn.Module) -> None:
    """Reset the state of every :class:`TernaryLIF` and :class:`RateDrivenCurrent` inside ``module``."""
    for neuron in module.modules():
        if isinstance(neuron, (TernaryLIF, RateDrivenCurrent)):
            neuron.reset_state()
