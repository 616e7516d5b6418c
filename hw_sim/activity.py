"""One simulated query's activity dict (the form of docs/ARCHITECTURE.md, as spiking/activity.py's).

Component -> {``spikes`` (Tc,) sum of |s| over the query's real tokens at each step, ``neurons`` the
neurons over those tokens, ``fan_out`` the accumulations one spike triggers}; the components, neurons
and fan-outs are those of :func:`spiking.populations.activity_components`, the spikes the Lava
processes' counts. The ``sfg`` entry has no spikes; its per-step multiplications (3 D per real clip)
are ``int_mults`` in fixed point and ``fp_mults`` in floating point. ``vtg simulate`` writes one
``vtg-activity/1`` record per query from these (hw_sim/simulate_command.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from spiking.config import decoder_read_steps
from spiking.populations import activity_components


@dataclasses.dataclass
class QueryActivity:
    """One query's real token counts and its activity dict (numpy spike counts, (Tc,) each)."""

    video_tokens: int
    text_tokens: int
    components: dict[str, dict[str, Any]]
    decoder_read_steps: int  # Tc less the decoders' warm-up


def query_activity(
    architecture: dict[str, Any], counts: dict[str, np.ndarray], n_video: int, n_text: int, precision: str
) -> QueryActivity:
    """The activity of one query of ``n_video`` clips and ``n_text`` tokens from the runner's ``counts``
    (population, or ``decoder.input``, -> (Tc,) spikes on the real tokens, hw_sim/runner.py).

    A component's spikes are its own count where the run counts it (``decoder.input``: the last layer's
    spikes on the clips), else those of its source population (``layer{i}.input``: ``input`` or
    ``layer{i-1}.out``)."""
    tc = len(next(iter(counts.values())))
    components: dict[str, dict[str, Any]] = {}
    for c in activity_components(architecture):
        neurons = c.neurons(n_video, n_text)
        if c.source is None:  # sfg: a real-valued operation, no spikes
            mults = "int_mults" if precision == "fixed" else "fp_mults"
            steps = np.full(tc, c.mults * c.tokens(n_video, n_text), np.int64)
            components[c.name] = {"spikes": np.zeros(tc, np.int64), "neurons": neurons, "fan_out": 0, mults: steps}
            continue
        spikes = counts[c.name] if c.name in counts else counts[c.source]
        components[c.name] = {"spikes": spikes, "neurons": neurons, "fan_out": c.fan_out_at(n_video + n_text)}
    return QueryActivity(n_video, n_text, components, decoder_read_steps(architecture["decoder_warmup"], tc))
