"""The energy-accuracy report: ``report.json``, ``report.md`` and the PNG plots of :mod:`energy.plots`.

``report.json`` holds::

    {"student": {...}, "data": {...}, "table": {name, source, ops_pj}, "snn_op": "int_acc",
     "reference": {"kind": "teacher" | "ann_formula", "name", "total_mj", "metrics" (or null)},
     "beside": [{"kind": "beside", "name", "checkpoint", "total_mj", "metrics"}, ...],  (other non-spiking models)
     "metrics_plotted": [...],
     "ann_encoder_mj": E_A of a non-spiking encoder of the student's depth and width (section 5.1),
     "points": [{"tc", "metrics", "rates", "paper_ifr", "efficiency", "encoder_efficiency",
                 "energy": {"queries", "total_mj", "encoder_mj", "decoder_mj", "float_mj",
                            "components_mj", "float_kinds_mj"},
                 "estimates": {"arithmetic" | "sram" | "loihi": {"total_mj", "components_mj", "float_mj"},
                               "counts": {component: {"syn_ops", "updates", "spikes"}}}}, ...]}

``estimates`` (:mod:`energy.neuromorphic`) sits beside ``energy``, the paper's arithmetic-only figures,
which it never replaces: its ``arithmetic`` is the same sum, ``sram`` adds 45 nm SRAM reads, ``loihi``
prices synaptic operations, neuron updates and spike messages with Loihi's published energies. The
reference and the models beside it carry ``estimates_mj`` {"arithmetic", "sram", "loihi": null}.

Energies are mJ per query; ``efficiency`` is E_f = reference total_mj / student total_mj (whole models);
``encoder_efficiency`` is the paper's E_A / E_S: ``ann_encoder_mj`` / the student's encoder_mj.
"""

from __future__ import annotations

import math
from pathlib import Path

from energy.measured import paper_ifr
from energy.ops import OpTable
from energy.plots import plot_report
from energy.sweep import TcPoint
from vtg.atomic import atomic_folder, atomic_write_text
from vtg.json_file import to_json

# headline numbers first: the paper's Table 5 and Fig. 4 columns, then the R1/mIoU datasets
PREFERRED_METRICS = (
    "MR-full-R1@0.5",
    "MR-full-R1@0.7",
    "HL-min-VeryGood-mAP",
    "HL-min-VeryGood-Hit1",
    "R1@0.5",
    "R1@0.7",
    "mIoU",
    "mAP",
)
MAX_PLOTTED = 4


def _ratio(reference: float, student: float) -> float | None:
    return reference / student if student > 0 else None  # a silent student has no finite ratio


def build_report(
    points: list[TcPoint],
    reference: dict,
    ann_encoder_mj: float,
    table: OpTable,
    snn_op: str,
    student: dict,
    data: dict,
    beside: list[dict] | None = None,
) -> dict:
    """Gather the sweep's points and the reference into the report mapping (see the module docstring)."""
    rows = []
    for point in points:
        energy = point.energy.per_query()
        rows.append(
            {
                "tc": point.tc,
                "metrics": point.metrics,
                "energy": energy,
                "rates": point.rates,
                "paper_ifr": paper_ifr(point.rates),
                "efficiency": _ratio(reference["total_mj"], energy["total_mj"]),
                "encoder_efficiency": _ratio(ann_encoder_mj, energy["encoder_mj"]),
                "estimates": point.beside_arithmetic,
            }
        )
    available = [m for m in rows[0]["metrics"] if all(m in r["metrics"] for r in rows)]
    plotted = [m for m in PREFERRED_METRICS if m in available] or available
    return {
        "student": student,
        "data": data,
        "table": {"name": table.name, "source": table.source, "ops_pj": table.ops_pj},
        "snn_op": snn_op,
        "reference": reference,
        "beside": list(beside or []),
        "ann_encoder_mj": ann_encoder_mj,
        "metrics_plotted": plotted[:MAX_PLOTTED],
        "points": rows,
    }


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def markdown(report: dict, images: list[Path]) -> str:
    """The report for people: set-up, one row per Tc, the breakdown at the largest Tc, the plots."""
    metrics = report["metrics_plotted"]
    reference = report["reference"]
    lines = [
        "# Energy-accuracy trade-off",
        "",
        f"- student: `{report['student'].get('checkpoint')}` ({report['student'].get('variant', 'spiking')}, "
        f"spikes priced as {report['snn_op']})",
        f"- data: `{report['data']['root']}` split `{report['data']['split']}`, {report['data']['queries']} queries",
        f"- op table: {report['table']['name']} ({report['table']['source']})",
        f"- reference: {reference['name']} ({reference['kind']}), {_number(reference['total_mj'])} mJ per query",
        "",
        "Energies are mJ per query at 45 nm; E_f = E_reference / E_student (whole models); E_A/E_S = the",
        f"paper's encoder ratio, E_A = {_number(report['ann_encoder_mj'])} mJ for a non-spiking encoder of the "
        "student's depth and width.",
        "",
        "| Tc | " + " | ".join(metrics) + " | total mJ | encoder mJ | decoder mJ | float mJ | E_f | E_A/E_S |",
        "|---|" + "---|" * (len(metrics) + 6),
    ]
    if reference.get("metrics"):
        values = " | ".join(_number(reference["metrics"].get(m)) for m in metrics)
        lines.append(f"| {reference['name']} | {values} | {_number(reference['total_mj'])} | | | | 1 | |")
    for other in report.get("beside", []):
        values = " | ".join(_number(other["metrics"].get(m)) for m in metrics)
        ratio = _number(_ratio(reference["total_mj"], other["total_mj"]))
        lines.append(f"| {other['name']} (beside) | {values} | {_number(other['total_mj'])} | | | | {ratio} | |")
    for row in report["points"]:
        e = row["energy"]
        values = " | ".join(_number(row["metrics"][m]) for m in metrics)
        lines.append(
            f"| {row['tc']} | {values} | {_number(e['total_mj'])} | {_number(e['encoder_mj'])} | "
            f"{_number(e['decoder_mj'])} | {_number(e['float_mj'])} | {_number(row['efficiency'])} | "
            f"{_number(row['encoder_efficiency'])} |"
        )
    last = report["points"][-1]
    lines += ["", f"## Breakdown at Tc = {last['tc']}", ""]
    lines += ["| part | mJ per query | mean rate (IFR) |", "|---|---|---|"]
    for name, mj in last["energy"]["components_mj"].items():
        lines.append(f"| {name} | {_number(mj)} | {_number(last['rates'].get(name), 3)} |")
    for name, mj in last["energy"]["float_kinds_mj"].items():
        lines.append(f"| float: {name} | {_number(mj)} | |")
    lines += ["", "## Mean rates in the paper's terms (IFR, mean over layers)", ""]
    names = list(report["points"][0]["paper_ifr"])
    lines += ["| Tc | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in report["points"]:
        lines.append(f"| {row['tc']} | " + " | ".join(_number(row["paper_ifr"][n], 3) for n in names) + " |")
    lines += _estimates_section(report)
    lines += ["", "## Plots", ""] + [f"![{image.stem}]({image.name})" for image in images]
    return "\n".join(lines) + "\n"


ESTIMATE_NAMES = {"arithmetic": "arithmetic only", "sram": "45 nm + SRAM", "loihi": "Loihi"}


def _estimates_section(report: dict) -> list[str]:
    """Arithmetic-only beside with-memory estimates: totals per Tc and per model, the student per component."""
    rows = [row for row in report["points"] if row.get("estimates")]
    if not rows:
        return []
    names = list(ESTIMATE_NAMES)
    header = "| {} | " + " | ".join(f"{ESTIMATE_NAMES[n]} mJ" for n in names) + " |"
    lines = [
        "",
        "## Arithmetic only and with memory",
        "",
        "Beside the paper's arithmetic-only figures (above, unchanged): 45 nm + SRAM adds a read of every",
        "operand from a 32 KB SRAM (Horowitz, ISSCC 2014: 20 pJ per 64-bit read), Loihi prices synaptic",
        "operations, neuron updates and spike messages with Loihi's published energies (Davies et al., IEEE Micro",
        "2018; 14 nm, Loihi 1: Loihi 2's are not public), the floating-point work staying at 45 nm + SRAM",
        "(energy/neuromorphic.py). mJ per query.",
        "",
        header.format("model"),
        "|---|" + "---|" * len(names),
    ]
    for other in [report["reference"], *report.get("beside", [])]:
        estimates = other.get("estimates_mj")
        if estimates:
            lines.append(f"| {other['name']} | " + " | ".join(_number(estimates[n]) for n in names) + " |")
    for row in rows:
        totals = " | ".join(_number(row["estimates"][n]["total_mj"]) for n in names)
        lines.append(f"| student, Tc = {row['tc']} | {totals} |")
    last = rows[-1]["estimates"]
    lines += ["", f"Student at Tc = {rows[-1]['tc']}, per component:", "", header.format("part"), "|---|" + "---|" * 3]
    for part in last["arithmetic"]["components_mj"]:
        lines.append(f"| {part} | " + " | ".join(_number(last[n]["components_mj"][part]) for n in names) + " |")
    lines.append("| floating-point work | " + " | ".join(_number(last[n]["float_mj"]) for n in names) + " |")
    return lines


def write_report(report: dict, out: Path) -> dict[str, Path]:
    """Write ``report.json``, the plots and ``report.md`` into ``out``; returns the paths by kind.

    All of them appear together or none (:func:`vtg.atomic.atomic_folder`): a report half written by an
    interrupted run must not pass for a finished one.
    """
    with atomic_folder(out) as folder:
        images = plot_report(report, report["metrics_plotted"], folder)
        atomic_write_text(folder / "report.json", to_json(report, indent=2) + "\n")
        atomic_write_text(folder / "report.md", markdown(report, images))
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    return {**paths, **{image.stem: out / image.name for image in images}}
