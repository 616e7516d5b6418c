"""``comparison.png``: the distillation report's headline metrics as grouped bars, one group per metric.

Bars: the teacher, the distilled students and the label-only students (means over the seeds, with
their standard deviation as error bars when there are several seeds); each seed's value is a dot on its
bar, so a reader sees at once whether a gap between the students is larger than their spread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402

from vtg.atomic import atomic_write  # noqa: E402

ROLES = ("teacher", "distilled", "label_only")


def plot_comparison(report: dict[str, Any], path: Path) -> Path:
    """Write the grouped bar chart of ``report`` (:func:`spiking.distillation.comparison.compare`) to ``path``."""
    names, models = report["headline"], report["models"]
    width = 0.8 / len(ROLES)
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    for r, role in enumerate(ROLES):
        entry = models[role]
        x = [i + (r - 1) * width for i in range(len(names))]  # (metrics,) bar centres
        heights = [entry["metrics"][name] for name in names]
        errors = [entry["std"][name] for name in names] if len(entry.get("runs", [])) > 1 else None
        label = role.replace("_", " ") + (f" ({entry['model']})" if role == "teacher" else "")
        ax.bar(x, heights, width, yerr=errors, capsize=3, label=label)
        for xi, name in zip(x, names):
            seeds = [run["metrics"][name] for run in entry.get("runs", [])]
            ax.scatter([xi] * len(seeds), seeds, s=9, color="black", zorder=3)
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
    ax.set_ylabel("score (%)")
    seeds = report["seeds"]
    ax.set_title(f"CLRM distillation on {report['split']} (students: seeds {', '.join(map(str, seeds))})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    # written whole or not at all, like comparison.json and comparison.md beside it
    atomic_write(path, lambda file: fig.savefig(file, format="png", dpi=120))
    plt.close(fig)
    return path
