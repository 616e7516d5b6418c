"""The picture of a ``vtg equilibrium`` report: convergence per layer (the paper's Fig. 3a) and the
train/deploy gap (metrics read from the simulation and from the steady-state map) over Tc."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402

HEADLINES = (("MR-full-R1@0.5", "tab:blue"), ("HL-min-VeryGood-Hit1", "tab:orange"))


def plot_equilibrium(report: dict, path: Path) -> Path:
    """Two panels: residual, the output neurons' own rounding in it and step change per layer over t (log
    scale), and the headline metrics
    read from the simulation (solid) and from the map (dashed) at the read-out steps."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = list(range(1, report["tc_max"] + 1))
    for i, layer in enumerate(report["layers"]):
        (line,) = left.plot(steps, layer["residual"], label=f"layer {i} residual")
        left.plot(steps, layer["rounding"], linestyle="--", color=line.get_color(), label=f"layer {i} own rounding")
        left.plot(steps[1:], layer["change"][1:], linestyle=":", color=line.get_color(), label=f"layer {i} change")
    left.axvline(report["train_tc"], color="grey", linewidth=0.8)
    left.axhline(0.05, color="grey", linewidth=0.8, linestyle="--")
    left.set(xscale="log", yscale="log", xlabel="timestep t", ylabel="relative to ||a_i[t]||")
    left.set_title("convergence: ||a - F(a)||, own rounding ||a - d||, ||a[t] - a[t-1]||", fontsize=9)
    left.set_xscale("log", base=2)
    tcs = [int(t) for t in report["metrics"]]
    for name, color in HEADLINES:
        for reading, style in (("simulated", "-"), ("steady_state", "--")):
            values = [report["metrics"][str(t)][reading].get(name) for t in tcs]
            if all(value is not None for value in values):
                right.plot(tcs, values, style, marker="o", color=color, label=f"{name} ({reading.replace('_', ' ')})")
    right.axvline(report["train_tc"], color="grey", linewidth=0.8)
    right.set_xscale("log", base=2)
    right.set(xlabel="timestep t (Tc)", ylabel="metric")
    right.set_title("train/deploy gap: simulation vs steady-state map", fontsize=9)
    for ax in (left, right):
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
