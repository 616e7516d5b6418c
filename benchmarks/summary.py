"""benchmarks/results/SUMMARY.md: one Markdown table per benchmark, from the result dicts.

Each ``*_table`` function reads one benchmark's result (the dict its ``run`` returns and writes as
JSON) and returns Markdown lines; :func:`summary_markdown` puts the available ones together, so a
benchmark that failed or was not run leaves a note instead of breaking the page.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vtg.atomic import atomic_write_text


def _fmt(value: Any, digits: int = 3) -> str:
    """Numbers to ``digits`` significant figures; None (a NaN in the JSON) as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        # whole numbers from 100 up (MB, parameters): the exponent form 1.61e+03 reads badly in a table
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"
    if isinstance(value, int):
        return str(value)
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]


def implicit_vs_bptt_table(result: dict[str, Any]) -> list[str]:
    s = result["setup"]
    m = s["model"]
    by = {(r["grad"], r["tc"]): r for r in result["runs"]}
    rows = [
        [
            tc,
            by["implicit", tc]["peak_rss_delta_mb"],
            by["bptt", tc]["peak_rss_delta_mb"],
            result["bptt_over_implicit"][str(tc)]["peak_rss"],
            by["implicit", tc]["saved_tensor_mb"],
            by["bptt", tc]["saved_tensor_mb"],
            by["implicit", tc]["step_s"],
            by["bptt", tc]["step_s"],
        ]
        for tc in s["tcs"]
    ]
    acceptance = result["acceptance"]
    return [
        f"SpikingVTG {m['variant']}, D = {m['hidden_dim']}, {m['num_layers']} layers, {m['num_heads']} heads, "
        f"batch {s['batch_size']}, Lv = {s['video_len']}, Lq = {s['query_len']}; each configuration in a fresh "
        "process; memory = peak RSS of one training step above the process's level before it (MB); "
        "graph = bytes autograd saved in the forward pass (MB), a lower bound of the peak.",
        "",
        *_table(
            [
                "Tc",
                "implicit peak",
                "BPTT peak",
                "BPTT / implicit",
                "implicit graph",
                "BPTT graph",
                "implicit step (s)",
                "BPTT step (s)",
            ],
            rows,
        ),  # fmt: skip
        "",
        f"Implicit peak memory flat over Tc (max / min < 1.5): {_fmt(acceptance['implicit_flat'])} "
        f"(max / min = {_fmt(result['implicit_peak_spread'])}); BPTT at least 5x implicit at Tc = 10: "
        f"{_fmt(acceptance['ratio_at_tc10_at_least_5'])}. Plot: `implicit_vs_bptt.png`.",
    ]


def training_table(result: dict[str, Any]) -> list[str]:
    rows = [
        [label, m["config"], m["parameters"], m["batch_size"], m["steps_per_s"], m["queries_per_s"]]
        for label, m in result["models"].items()
    ]
    return [
        f"Demo configs on `vtg data synth --preset demo` train queries; {result['method']}.",
        "",
        *_table(["model", "config", "parameters", "batch", "steps/s", "queries/s"], rows),
    ]


def inference_table(result: dict[str, Any]) -> list[str]:
    d = result["data"]
    rows = [[p["tc"], p["queries_per_s"], p["ms_per_query"]] for p in result["points"]]
    return [
        f"SpikingVTG {result['model_config']['variant']} student (`{result['checkpoint']}`"
        + (f", trained by `{result['student_training']}`" if result.get("student_training") else "")
        + f"), {d['queries']} val queries in batches of {d['batch_size']}; {result['method']}.",
        "",
        *_table(["Tc", "queries/s", "ms/query"], rows),
    ]


def lava_table(result: dict[str, Any]) -> list[str]:
    rows = [
        [
            precision,
            p["lava_processes"],
            p["lava_compile_and_start_s"],
            p["lava_queries_per_s"],
            p["torch_reference"],
            p["torch_queries_per_s"],
            p["lava_slowdown"],
            p["metrics"].get("MR-full-mAP"),
            p["metrics"].get("HL-min-VeryGood-mAP"),
        ]
        for precision, p in result["precisions"].items()
    ]
    return [
        f"`benchmarks/lava_vs_torch.py` on `{result['bundle']}`, {result['queries']} {result['split']} queries, "
        f"Tc = {result['tc']}.",
        "",
        *_table(
            [
                "precision",
                "Lava processes",
                "compile+start (s)",
                "Lava queries/s",
                "PyTorch reference",
                "PyTorch queries/s",
                "PyTorch / Lava speed",
                "MR-full-mAP",
                "HL-min-VeryGood-mAP",
            ],
            rows,
        ),  # fmt: skip
    ]


def energy_table(result: dict[str, Any]) -> list[str]:
    f = result["paper_formula"]
    i = f["inputs"]
    measured = result["measured"]
    reference = measured["reference"]
    rows = [
        [p["tc"], p["total_mj"], p["efficiency"], (p.get("metrics") or {}).get("MR-full-mAP")]
        for p in measured["points"]
    ]
    return [
        f"Paper formula (`vtg energy formula`, L = {i['seq_len']}, D = {i['hidden']}, {i['layers']} layers, "
        f"Tc = {i['tc']}, rates {i['ifr']}): non-spiking {_fmt(f['ann_mj'])} mJ, spiking {_fmt(f['snn_mj'])} mJ, "
        f"E_A / E_S = {_fmt(f['efficiency'])}.",
        "",
        f"Measured (`vtg energy report`, `{measured['checkpoint']}`, {measured['data']['queries']} val queries; "
        f"reference: {reference['name']}, {_fmt(reference['total_mj'])} mJ/query). The student is trained only "
        "briefly (speed and energy, not accuracy, are measured here), so its metrics are near zero:",
        "",
        *_table(["Tc", "mJ/query", "E_ref / E", "MR-full-mAP"], rows),
    ]


# benchmark name (its JSON file's stem) -> section title and table writer, in the page's order
def simulation_speed_table(result: dict[str, Any]) -> list[str]:
    tc, seconds, contention = result["tc"], result["seconds"], result["contention"]
    rows = [
        [
            threads,
            seconds["student/forward"][threads],
            seconds["nonspiking_same_shape/forward"][threads],
            result["ratios"][threads]["forward_over_tc_nonspiking"],
            seconds["student/train"][threads],
            seconds["nonspiking_same_shape/train"][threads],
            result["ratios"][threads]["train_over_tc_plus_3_thirds_nonspiking"],
            result["ratios"][threads]["sdst_over_univtg_train"],
        ]
        for threads in ("1", "2")
    ]
    header = ["threads", "student fwd s", "non-spiking fwd s", f"fwd / (Tc={tc} x non-spiking)", "student step s"]
    header += ["non-spiking step s", "step / ((Tc+3)/3 x non-spiking)", "SDST step / UniVTG step"]
    return [
        f"{result['method']}; goals: forward ratio <= 1.5, step ratio <= 1.5, SDST <= 2.",
        "",
        *_table(header, rows),
        "",
        f"With one competing busy process, the student's training step slows by "
        f"{_fmt(contention['slowdown_default'])}x with 2 threads and OpenMP's default waiting, by "
        f"{_fmt(contention['slowdown_passive'])}x with 2 threads and OMP_WAIT_POLICY=PASSIVE (which is "
        f"itself {_fmt(contention['seconds']['alone_passive'] / contention['seconds']['alone_default'])}x slower "
        f"alone), by {_fmt(contention['slowdown_1_thread'])}x with 1 thread, and by "
        f"{_fmt(contention['slowdown_governed'])}x under vtg train's thread governor, its default (goal <= 3); "
        f"1 thread under contention costs {_fmt(contention['busy_1_thread_over_alone_2_threads'])}x the idle "
        "2-thread step.",
    ]


def own_markdown(name: str) -> Callable[[dict[str, Any]], list[str]]:
    """The table of a benchmark that writes its own Markdown file: its module's ``markdown(result)``."""

    def table(result: dict[str, Any]) -> list[str]:
        return importlib.import_module(f"benchmarks.{name}").markdown(result).rstrip().splitlines()

    return table


SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
    "student_vs_nonspiking": (
        "Spiking students against a non-spiking model of the same shape",
        own_markdown("student_vs_nonspiking"),
    ),
    "distillation_control": (
        "Distilled students against label-only students with as many optimizer steps",
        own_markdown("distillation_control"),
    ),
    "distillation_heldout": (
        "make demo's distillation on worlds no choice was made on",
        own_markdown("distillation_heldout"),
    ),
    "sdst_ablations": (
        "SDST against the UniVTG-style model, and the paper's ablations",
        own_markdown("sdst_ablations"),
    ),
    "simulation_speed": ("Cost of a spiking timestep", simulation_speed_table),
    "training_throughput": ("Training speed", training_table),
    "inference_tc": ("Inference speed against Tc", inference_table),
    "lava_simulation": ("Lava CPU simulation against PyTorch", lava_table),
    "implicit_vs_bptt": ("Training memory: implicit differentiation against BPTT", implicit_vs_bptt_table),
    "energy_tc": ("Energy", energy_table),
}


def machine_line(machine: dict[str, Any]) -> str:
    """Where and when one benchmark was measured: each JSON carries its own ``machine``, and the results
    of a summary may come from runs on different machines or days (``--only`` reruns one of them)."""
    load = machine.get("load_average_1_5_15")
    when = machine.get("measured_at_utc")
    return (
        f"Measured on {machine.get('cpu', '?')} ({machine.get('cpus', '?')} cores), Python "
        f"{machine.get('python', '?')}, torch {machine.get('torch', '?')}"
        + (f", GPU {machine['gpu']}" if machine.get("gpu") else ", no GPU")
        + (f", {when}" if when else "")
        + (f"; load average {load} (a shared machine: timings are lower bounds of an idle one)" if load else "")
        + "."
    )


def summary_markdown(results: dict[str, dict[str, Any]], errors: dict[str, str] | None = None) -> str:
    """The whole page: one section per benchmark of :data:`SECTIONS`, each with the machine it ran on.

    A benchmark that failed in this run says so, whatever an earlier run left in its JSON: the summary
    never shows old numbers as this run's.
    """
    errors = errors or {}
    lines = ["# Benchmark results", ""]
    quick = sorted(name for name, r in results.items() if r.get("quick"))
    if quick:
        lines += [f"Quick (`--quick`, reduced) runs: {', '.join(quick)}.", ""]
    for name, (title, table) in SECTIONS.items():
        lines += [f"## {title}", ""]
        if name in errors:
            lines.append(f"Failed in this run: {errors[name]}")
        elif name in results:
            if "machine" in results[name]:
                lines += [machine_line(results[name]["machine"]), ""]
            lines += table(results[name])
            lines += ["", f"Raw numbers: `{name}.json`."]
        else:
            lines.append("Not measured in this run.")
        lines.append("")
    return "\n".join(lines)


def write_summary(results: dict[str, dict[str, Any]], path: Path, errors: dict[str, str] | None = None) -> Path:
    """Write :func:`summary_markdown` to ``path``, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, summary_markdown(results, errors))
    return path
