"""Ternary LIF dynamics (SpikingVTG Eq. 1) against hand-computed sequences."""

import pytest
import torch

from spiking.neuron import RateDrivenCurrent, TernaryLIF, reset_neurons, steady_state_mode


def run(neuron: TernaryLIF, currents: list[float]) -> tuple[list[float], list[float]]:
    spikes, membranes = [], []
    for current in currents:
        spikes.append(float(neuron(torch.tensor([current], dtype=torch.float64))))
        membranes.append(float(neuron.mem))
    return spikes, membranes


def test_leak_ternary_spikes_and_subtractive_reset():
    # gamma = 0.5, Vth = 1; the values are exact in binary floating point
    # t1: u = 0.625 -> 0;  t2: u = 0.3125 + 0.625 = 0.9375 -> 0;  t3: u = 0.46875 + 0.625 = 1.09375 -> +1,
    # reset to 0.09375;  t4: u = 0.046875 - 2.5 = -2.453125 -> -1, reset to -1.453125;  t5: u = -0.7265625 -> 0
    neuron = TernaryLIF(gamma=0.5, threshold=1.0).double()
    spikes, membranes = run(neuron, [0.625, 0.625, 0.625, -2.5, 0.0])
    assert spikes == [0.0, 0.0, 1.0, -1.0, 0.0]
    assert membranes == [0.625, 0.9375, 0.09375, -1.453125, -0.7265625]
    # ASR: sum_tau gamma^(5 - tau) s[tau] / sum_tau gamma^(5 - tau) = (0.25 - 0.5) / 1.9375
    assert float(neuron.rate) == pytest.approx(-0.25 / 1.9375, abs=1e-15)


def test_threshold_is_inclusive_and_one_spike_per_step():
    neuron = TernaryLIF(gamma=1.0, threshold=1.0).double()
    assert run(neuron, [1.0, -2.0]) == ([1.0, -1.0], [0.0, -1.0])  # u == Vth fires; u == -Vth fires -1
    neuron.reset_state()
    # IF neuron (gamma = 1) with 2.5 then nothing: one spike per step, the surplus stays in u
    spikes, membranes = run(neuron, [2.5, 0.0, 0.0])
    assert spikes == [1.0, 1.0, 0.0] and membranes == [1.5, 0.5, 0.5]
    assert float(neuron.rate) == pytest.approx(2.0 / 3.0)  # gamma = 1: the plain mean


def test_reset_state_and_steady_state_mode():
    neuron = TernaryLIF(gamma=0.9, threshold=2.0)
    neuron(torch.tensor([3.0]))
    reset_neurons(neuron)
    assert neuron.mem is None
    current = torch.tensor([-5.0, -1.0, 0.5, 3.0])
    with steady_state_mode(neuron):
        assert neuron(current).tolist() == [-1.0, -0.5, 0.25, 1.0]  # clamp(I / Vth, -1, 1), Eq. 4
    assert neuron.mem is None  # the steady-state map leaves the state alone
    assert neuron(current).tolist() == [-1.0, 0.0, 0.0, 1.0]  # spiking again after the block


def test_surrogate_gradient_flows_through_spikes():
    neuron = TernaryLIF(gamma=1.0, threshold=1.0, surrogate_alpha=2.0)
    current = torch.tensor([0.9, -0.9, 3.0], requires_grad=True)
    neuron(current).sum().backward()
    # d/dI [H(u - 1) - H(-u - 1)] with the arc-tangent surrogate: (alpha / 2) / (1 + (pi alpha x / 2)^2) per side
    slope = lambda x: 1.0 / (1.0 + (torch.pi * x) ** 2)  # noqa: E731
    expected = torch.tensor([slope(-0.1) + slope(-1.9), slope(-1.9) + slope(-0.1), slope(2.0) + slope(-4.0)])
    assert torch.allclose(current.grad, expected, atol=1e-6)


@pytest.mark.parametrize("fire_ratio", [1.0, 0.5])
def test_rate_error_of_a_constant_current(fire_ratio):
    """IF neuron, constant current I: after t steps the rate is I truncated to a multiple of 1/t at
    fire_ratio 1 (error < 1/t, towards 0) and rounded to the nearest one at 0.5 (error <= 1/(2t))."""
    current = torch.linspace(-0.97, 0.97, 41)
    lif = TernaryLIF(gamma=1.0, threshold=1.0, fire_ratio=fire_ratio)
    lif.reset_state()
    with torch.no_grad():
        for t in range(1, 9):
            lif(current)
            error = lif.rate - current
            if fire_ratio == 1.0:
                assert (error.abs() < 1 / t + 1e-6).all() and (error * current.sign() <= 1e-6).all()
            else:
                assert (error.abs() <= 1 / (2 * t) + 1e-6).all()
    assert torch.equal(lif.rate * 8, (current * 8).round() if fire_ratio == 0.5 else (current * 8).trunc())


def test_in_place_step_equals_the_graph_step():
    """The no-grad timestep (in place) and the autograd one give the same spikes, membranes and rates."""
    torch.manual_seed(0)
    currents = [torch.randn(4, 7) * 1.5 for _ in range(6)]
    fast, graph = TernaryLIF(0.9, 1.0, fire_ratio=0.5), TernaryLIF(0.9, 1.0, fire_ratio=0.5)
    fast.reset_state()
    graph.reset_state()
    for current in currents:
        with torch.no_grad():
            a = fast(current)
        b = graph(current.clone().requires_grad_())
        assert torch.equal(a, b.detach())
        assert torch.equal(fast.mem, graph.mem.detach()) and torch.equal(fast.rate, graph.rate.detach())


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize(("gamma", "fire_ratio"), [(1.0, 0.5), (0.9, 1.0)])
def test_driven_rate_is_the_clamped_weighted_mean_current(gamma, fire_ratio, grad):
    """driven_rate = clamp(sum gamma^(t-tau) I[tau] / (Vth N[t])): the ASR plus the membrane's remainder,
    on the in-place (no graph) and the autograd timestep alike."""
    torch.manual_seed(0)
    currents = torch.randn(7, 20) * 1.2  # I[t] for 7 steps, 20 neurons (some beyond +-Vth: clamped)
    lif = TernaryLIF(gamma=gamma, threshold=0.8, fire_ratio=fire_ratio)
    lif.reset_state()
    with torch.set_grad_enabled(grad):
        for t in range(1, 8):
            lif(currents[t - 1].clone().requires_grad_(grad))
            weights = torch.tensor([gamma ** (t - 1 - tau) for tau in range(t)])
            mean = (weights[:, None] * currents[:t]).sum(0) / weights.sum()
            assert torch.allclose(lif.driven_rate, (mean / 0.8).clamp(-1, 1), atol=1e-5)


def test_rate_driven_current_has_the_targets_running_mean():
    """I[t] = N[t] P[t] - gamma N[t-1] P[t-1]: the gamma-weighted mean of I[1..t] is P[t] at every t, a
    constant P gives I = P, and steady-state mode passes P through."""
    gamma = 0.9
    source = RateDrivenCurrent(gamma)
    targets = torch.randn(6, 5)  # P[t] for 6 steps, 5 neurons
    currents = [source(p) for p in targets]
    for t in range(1, 7):
        weights = torch.tensor([gamma ** (t - 1 - tau) for tau in range(t)])
        mean = (weights[:, None] * torch.stack(currents[:t])).sum(0) / weights.sum()
        assert torch.allclose(mean, targets[t - 1], atol=1e-5)
    source.reset_state()
    constant = torch.full((3,), 0.4)
    assert all(torch.allclose(source(constant), constant) for _ in range(4))
    source.steady_state = True
    assert torch.equal(source(targets[0]), targets[0])


@pytest.mark.parametrize("grad", [False, True])
def test_half_precision_currents_integrate_in_float32(grad):
    """Under autocast a bfloat16 current must not make a bfloat16 membrane: the spikes are those of float32."""
    torch.manual_seed(0)
    currents = (0.6 * torch.randn(16, 4096)).to(torch.bfloat16)  # (T, N), values exact in both precisions
    half, full = TernaryLIF(gamma=0.99, fire_ratio=0.5), TernaryLIF(gamma=0.99, fire_ratio=0.5)
    with torch.set_grad_enabled(grad):
        for current in currents:
            assert torch.equal(half(current), full(current.float()))
    assert half.mem.dtype == torch.float32
    assert torch.equal(half.rate, full.rate)


def test_half_precision_rate_driven_current_is_float32():
    targets = (torch.rand(8, 1000) * 4).to(torch.bfloat16)  # (T, N)
    half, full = RateDrivenCurrent(0.99), RateDrivenCurrent(0.99)
    for target in targets:
        out = half(target)
        assert out.dtype == torch.float32
        assert torch.equal(out, full(target.float()))
