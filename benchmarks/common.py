"""What every benchmark shares: where results go, the machine they were measured on, writing JSON.

Each benchmark module defines ``run(quick: bool) -> dict`` and writes its dict with :func:`write_result`
to ``benchmarks/results/<name>.json`` (atomically: a temporary file, then a rename, so a run killed half
way never leaves a truncated JSON that the summary would read).
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from vtg.atomic import atomic_write_text
from vtg.config import dump_yaml
from vtg.json_file import to_json
from vtg.scripts import run_json, tool  # noqa: F401 - the benchmarks' run helpers, shared with the demo

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# scratch space for data, checkpoints and bundles the benchmarks build (runs/ is ignored by git)
WORK = ROOT / "runs" / "bench"
# the two official metrics the accuracy benchmarks report: moment retrieval and highlight detection
HEADLINES = ("MR-full-R1@0.5", "HL-min-VeryGood-Hit1")


def headline_pair(metrics: dict[str, float], form: str = "{:.1f}") -> str:
    """``metrics``' two :data:`HEADLINES` values as "R1 / Hit1", each formatted by ``form``."""
    return " / ".join(form.format(metrics[m]) for m in HEADLINES)


def machine_info() -> dict[str, Any]:
    """CPU, core count, load and library versions: timings mean little without them."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if hasattr(os, "getloadavg"):
        # the machine is shared: the load while measuring tells how far timings are from an idle machine
        info["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    return info


def train_once(
    config: dict[str, Any], config_file: Path, out: Path, data: Path, say: Callable[[str], None], label: str
) -> Path:
    """``vtg train`` with ``config`` (written to ``config_file``) into ``out``; returns ``out/last.ckpt``.

    Skipped when that checkpoint exists and ``config_file`` holds the same config, so that a rerun of a
    benchmark trains only what changed; a run of another config (or a killed one) starts afresh, and
    ``say`` tells it with ``label``. ``config_file`` is written when the run has finished: Lightning writes
    last.ckpt after every epoch, so the checkpoint alone does not tell a finished run from a killed one.
    """
    checkpoint = out / "last.ckpt"
    finished = config_file.is_file() and yaml.safe_load(config_file.read_text()) == config
    if checkpoint.is_file() and finished:
        return checkpoint
    say(f"vtg train {label} ({config['train']['epochs']} epochs)")
    config_file.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    config_file.parent.mkdir(parents=True, exist_ok=True)
    running = config_file.with_name(f".{config_file.name}.running")  # the config vtg train reads
    running.write_text(dump_yaml(config))
    run_json([tool("vtg"), "train", "--config", str(running), "--data", str(data), "--out", str(out),
              "--json"], log=out.with_suffix(".log"))  # fmt: skip
    running.replace(config_file)  # the run is complete
    return checkpoint


def write_result(name: str, result: dict[str, Any], results: Path = RESULTS) -> Path:
    """Write ``result`` to ``results/<name>.json`` atomically; return the path."""
    path = results / f"{name}.json"
    atomic_write_text(path, to_json(result, indent=1) + "\n")
    return path


def write_report(
    name: str,
    result: dict[str, Any],
    markdown: Callable[[dict[str, Any]], str],
    plot: Callable[[dict[str, Any], Path], Path] | None = None,
) -> None:
    """A benchmark that reads as a table: ``results/<name>.json``, ``<name>.md`` from ``markdown(result)`` and,
    given ``plot``, ``<name>.png``. The table and the plot are made before the JSON is written: one that fails
    leaves the last run's JSON and table as they were (``run_all``'s summary reads the JSON)."""
    text = markdown(result)
    if plot is not None:
        plot(result, RESULTS / f"{name}.png")
    write_result(name, result)
    atomic_write_text(RESULTS / f"{name}.md", text)


def quick_main(
    argv: list[str] | None,
    doc: str,
    quick_help: str,
    run: Callable[[bool], dict[str, Any]],
    headline: Callable[[dict[str, Any]], Any],
) -> int:
    """A benchmark's command line: ``--quick`` (``quick_help`` says what it shrinks), ``run(quick)``, then
    its ``headline(result)`` as one JSON line (the whole result goes to benchmarks/results)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    print(to_json(headline(run(args.quick))))
    return 0
