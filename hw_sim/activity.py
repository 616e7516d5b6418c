"""Spike counts of a Lava run in the activity-dict form of docs/ARCHITECTURE.md (as spiking/activity.py).

Component -> {``spikes`` (Tc,) sum of |s| over the real tokens of all simulated queries at each step,
``neurons`` the neurons over those tokens, ``fan_out`` the accumulations one spike triggers}. The
``sfg`` entry has no spikes; its per-step multiplications (dot product, norm, gate: 3 D per real clip)
are ``int_mults`` in fixed point and ``fp_mults`` in floating point.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ActivityCounter:
    """Accumulates per-query spike counts (population -> (Tc,)) into the activity dict."""

    def __init__(self, architecture: dict[str, Any], tc: int, precision: str):
        self.arch, self.tc, self.precision = architecture, tc, precision
        self.spikes: dict[str, np.ndarray] = {}
        self.tokens = self.clips = self.queries = 0

    def add(self, counts: dict[str, np.ndarray], n_video: int, n_text: int) -> None:
        for name, steps in counts.items():
            self.spikes[name] = self.spikes.get(name, 0) + steps
        self.tokens += n_video + n_text
        self.clips += n_video
        self.queries += 1

    def result(self) -> dict[str, dict[str, Any]]:
        arch = self.arch
        hidden, ffn = arch["hidden_dim"], arch["ffn_dim"]
        length = max(1, round(self.tokens / max(self.queries, 1)))  # mean real tokens per query
        activity: dict[str, dict[str, Any]] = {}

        def entry(name: str, spikes: np.ndarray, neurons: int, fan_out: int) -> None:
            activity[name] = {"spikes": [int(s) for s in spikes], "neurons": int(neurons), "fan_out": int(fan_out)}

        fan_outs = {"k": length, "v": length, "attn": hidden, "so": ffn, "int": hidden, "out": 0}
        for i in range(arch["num_layers"]):
            source = "input" if i == 0 else f"layer{i - 1}.out"
            entry(f"layer{i}.input", self.spikes[source], self.tokens * hidden, 3 * hidden)
            for name, fan_out in fan_outs.items():
                width = ffn if name == "int" else hidden
                entry(f"layer{i}.{name}", self.spikes[f"layer{i}.{name}"], self.tokens * width, fan_out)
        channels = {
            head: [hidden] * (arch[f"{head}_layers"] - 1) + [1 if head == "f" else 2] for head in ("f", "d")
        }  # output channels of each convolution
        first = sum(arch[f"{head}_kernel"] * channels[head][0] for head in ("f", "d"))
        entry("decoder.input", self.spikes["decoder.input"], self.clips * hidden, first)
        for head in ("f", "d"):
            for j in range(arch[f"{head}_layers"] - 1):
                fan_out = arch[f"{head}_kernel"] * channels[head][j + 1]
                entry(f"decoder.{head}.{j}", self.spikes[f"decoder.{head}.{j}"], self.clips * hidden, fan_out)
        mults = "int_mults" if self.precision == "fixed" else "fp_mults"
        activity["sfg"] = {
            "spikes": [0] * self.tc,
            "neurons": self.clips,
            "fan_out": 0,
            mults: [3 * hidden * self.clips] * self.tc,
        }
        return activity
