"""How close a trained SpikingVTG gets to the equilibrium it was trained on (paper Sec. 4.5, Fig. 3a).

Training differentiates the steady-state map F (Eqs. 4-5) at the last layer's ASR z; evaluation and
every deployment read the Tc-step spiking simulation. The two agree only when the simulation has
converged by Tc. For each timestep t of a simulation from rest this module measures, per encoder layer
i (a_i[t] its output neurons' ASR, z[t] = a_N[t], F_i(z) layer i's ASR under the map given z)::

    residual_i[t] = ||a_i[t] - F_i(z[t])|| / ||a_i[t]||        distance to the map's prediction
    rounding_i[t] = ||a_i[t] - d_i[t]|| / ||a_i[t]||            the part the output neurons' own rounding leaves
    change_i[t]   = ||a_i[t] - a_i[t-1]|| / ||a_i[t]||          still moving?

where d_i[t] = clamp(mean current / Vth) is the ASR the output neurons' input so far asks for
(:attr:`spiking.neuron.TernaryLIF.driven_rate`): a_i - d_i is the paper's remainder -u_i[t] / (Vth N[t])
(Sec. 4.5, N[t] = sum_j gamma^j; clamped), which falls as 1 / N[t] (about 1 / t for t well below
1 / (1 - gamma)) and only more steps remove. It is part of the residual, not added to the rest: the map's
operations on rates against the simulation's on spikes, and the upstream neurons' rounding.

(norms over the whole split's real tokens), and, at a chosen set of timesteps, the official metrics
read two ways: from the simulation after t steps (what is deployed: :class:`spiking.model.Readout`)
and from the map given z* = z[t], at F(z[t]) (what training's loss sees). It also reports the relative
residual that the implicit adjoint's solver reaches on the training loss (``adjoint``), with the model's own solver
settings and with ``probe_iters`` products, on a few batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from spiking.model import Readout, SpikingVTG
from spiking.quant import quantised_once


def read_at_steps(tc_max: int, train_tc: int) -> list[int]:
    """Timesteps whose metrics are read: powers of two up to ``tc_max``, the training Tc and ``tc_max``."""
    steps = {2**k for k in range(tc_max.bit_length()) if 2**k <= tc_max} | {tc_max}
    if train_tc <= tc_max:
        steps.add(train_tc)
    return sorted(steps)


@torch.no_grad()
def trace_batch(model: SpikingVTG, batch: dict[str, Any], tc_max: int, read_at: Sequence[int]):
    """Simulate one batch for ``tc_max`` steps.

    Returns four (N, tc_max) tensors of squared norms over the batch's real tokens, per layer and step,
    ||a_i[t] - F_i(z[t])||^2, ||a_i[t] - d_i[t]||^2, ||a_i[t] - a_i[t-1]||^2 (0 at t = 1) and ||a_i[t]||^2;
    and, for each t in
    ``read_at``, the predictions read from the simulation and from the map.
    """
    ctx = model.prepare(batch)
    tokens = ctx.token_mask[:, :, None].to(ctx.video.dtype)  # (B, L, 1)
    layers = len(model.layers)
    residual, rounding, change, norm = (torch.zeros(layers, tc_max, dtype=torch.float64) for _ in range(4))
    simulated: dict[int, list] = {}
    mapped: dict[int, list] = {}
    readout = Readout()
    previous: list[torch.Tensor] | None = None
    with quantised_once(model):
        for t, out in enumerate(model.steps(ctx, tc_max, decode=False), start=1):
            readout.add(out, ctx)
            rates = [layer.out_lif.rate * tokens for layer in model.layers]  # per layer (B, L, D)
            driven = [layer.out_lif.driven_rate * tokens for layer in model.layers]  # per layer (B, L, D)
            steady = model.steady_state(rates[-1], ctx)  # F at z[t]; the neurons' state is left alone
            for i, rate in enumerate(rates):
                residual[i, t - 1] = float((rate - steady.hidden[i] * tokens).pow(2).sum())
                rounding[i, t - 1] = float((rate - driven[i]).pow(2).sum())
                norm[i, t - 1] = float(rate.pow(2).sum())
                if previous is not None:
                    change[i, t - 1] = float((rate - previous[i]).pow(2).sum())
            previous = rates
            if t in read_at:
                simulated[t] = model.predict(batch, readout.outputs(model, ctx))
                # training's loss, given the simulation's z* = z[t], reads the outputs at F(z*) (at_equilibrium)
                mapped[t] = model.predict(batch, model.equilibrium_outputs(steady.hidden[-1], ctx))
    return (residual, rounding, change, norm), simulated, mapped


def adjoint_residuals(model: SpikingVTG, batches: Iterable[dict[str, Any]], iters: int) -> list[float]:
    """Relative residual of the implicit adjoint solve on the training loss, one per batch.

    The model's training Tc and solver, with ``iters`` products (the model's own setting is restored).
    """
    implicit = model.implicit
    saved = implicit.max_iter, model.training
    implicit.max_iter = iters
    model.train()
    residuals = []
    try:
        for batch in batches:
            outputs = model(batch)
            total = model.loss(outputs, batch)["total"]
            model.zero_grad(set_to_none=True)
            total.backward()
            residuals.append(float(implicit.last_residual))
    finally:
        implicit.max_iter, training = saved
        model.train(training)
        model.zero_grad(set_to_none=True)
    return residuals
