"""PNG plots of an energy report: accuracy against Tc, energy against Tc, accuracy against E_f.

E_f = E_reference / E_student per query (paper section 5.1, Fig. 4), the reference being the teacher
(FP-MAC, measured by running it) or, without a teacher, a non-spiking encoder of the same depth and
width (the paper's E_A). The reference is drawn as a dashed line in every plot.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402

DPI = 120


def _save(fig, ax, path: Path) -> Path:
    # the legend goes under the axes: inside, it would hide the reference lines at the top
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _tc_axis(ax, tcs: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(tcs, [str(tc) for tc in tcs])
    ax.set_xlabel("timesteps Tc")


def plot_accuracy_vs_tc(report: dict, metrics: list[str], path: Path) -> Path:
    """Each metric (%) against Tc; the reference's value of the metric as a dashed line of the same colour."""
    tcs = [p["tc"] for p in report["points"]]
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    reference = report["reference"]
    for metric in metrics:
        (line,) = ax.plot(tcs, [p["metrics"][metric] for p in report["points"]], marker="o", label=f"student {metric}")
        if reference.get("metrics") and metric in reference["metrics"]:
            ax.axhline(
                reference["metrics"][metric],
                color=line.get_color(),
                linestyle="--",
                label=f"{reference['name']} {metric}",
            )
        for other in (o for o in report.get("beside", []) if metric in o.get("metrics", {})):
            label = f"{other['name']} {metric}"
            ax.axhline(other["metrics"][metric], color=line.get_color(), linestyle=":", label=label)
    _tc_axis(ax, tcs)
    ax.set_ylabel("score (%)")
    ax.set_title("Accuracy against timesteps")
    ax.grid(alpha=0.3)
    return _save(fig, ax, path)


def plot_energy_vs_tc(report: dict, path: Path) -> Path:
    """Energy per query (mJ) against Tc on log-log axes (linear growth is slope 1), with the reference."""
    points = report["points"]
    tcs = [p["tc"] for p in points]
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    ax.plot(tcs, [p["energy"]["total_mj"] for p in points], marker="o", label="student total")
    ax.plot(tcs, [p["energy"]["encoder_mj"] for p in points], marker="s", label="student encoder (spikes)")
    ax.plot(tcs, [p["energy"]["float_mj"] for p in points], marker="^", label="student floating-point work")
    last = points[-1]
    guide = [last["energy"]["total_mj"] * tc / last["tc"] for tc in tcs]
    ax.plot(tcs, guide, color="grey", linestyle=":", label="proportional to Tc")
    reference = report["reference"]
    ax.axhline(reference["total_mj"], color="black", linestyle="--", label=f"{reference['name']} (FP-MAC)")
    for other in report.get("beside", []):
        ax.axhline(other["total_mj"], color="black", linestyle=":", label=f"{other['name']} (FP-MAC)")
    _tc_axis(ax, tcs)
    ax.set_yscale("log")
    ax.set_ylabel("energy per query (mJ, 45 nm)")
    ax.set_title(f"Energy against timesteps ({report['table']['name']} op table, {report['snn_op']})")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, ax, path)


def plot_accuracy_vs_efficiency(report: dict, metrics: list[str], path: Path) -> Path:
    """Each metric (%) against E_f (log axis), points labelled by Tc; the reference sits at E_f = 1. A Tc at
    which the student spent no energy has no E_f and no point."""
    points = [p for p in report["points"] if p["efficiency"] is not None]
    efficiency = [p["efficiency"] for p in points]
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    reference = report["reference"]
    for k, metric in enumerate(metrics):
        values = [p["metrics"][metric] for p in points]
        (line,) = ax.plot(efficiency, values, marker="o", label=f"student {metric}")
        if k == 0:  # the Tc labels once: every metric's points share the same E_f
            for p, x, y in zip(points, efficiency, values):
                ax.annotate(f"Tc={p['tc']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if reference.get("metrics") and metric in reference["metrics"]:
            ax.axhline(
                reference["metrics"][metric],
                color=line.get_color(),
                linestyle="--",
                label=f"{reference['name']} {metric}",
            )
            ax.plot([1.0], [reference["metrics"][metric]], marker="*", markersize=10, color=line.get_color())
        # each at its own E_f against the reference; a model scored without this metric is left out, as in report.md
        for other in (o for o in report.get("beside", []) if metric in o.get("metrics", {})):
            x = reference["total_mj"] / other["total_mj"]
            label = f"{other['name']} {metric}"
            ax.plot([x], [other["metrics"][metric]], marker="D", color=line.get_color(), label=label)
    ax.set_xscale("log")
    ax.set_xlabel(f"energy-efficiency factor E_f = E_{reference['name']} / E_student (x)")
    ax.set_ylabel("score (%)")
    ax.set_title("Accuracy against energy efficiency")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, ax, path)


def plot_report(report: dict, metrics: list[str], out: Path) -> list[Path]:
    """Write the three PNGs into ``out``; returns their paths."""
    return [
        plot_accuracy_vs_tc(report, metrics, out / "accuracy_vs_tc.png"),
        plot_energy_vs_tc(report, out / "energy_vs_tc.png"),
        plot_accuracy_vs_efficiency(report, metrics, out / "accuracy_vs_efficiency.png"),
    ]
