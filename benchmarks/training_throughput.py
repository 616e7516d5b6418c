"""Training steps per second of the three trainable models on the demo data.

    python -m benchmarks.training_throughput [--quick]

For the UniVTG-style teacher, SDST and the SpikingVTG student (1-bit NF, implicit gradients), each
with its demo config (``configs/*_demo.yaml``: model section and batch size), the benchmark runs a few
optimiser steps (forward, loss, backward, gradient clipping, AdamW) on batches of
``vtg data synth --preset demo`` train queries. The batches are collated before the clock starts and
the first steps are warm-up, so the number is the model's own training speed, without data loading
or Lightning's bookkeeping. Result: benchmarks/results/training_throughput.json.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import yaml

from benchmarks.assets import demo_data
from benchmarks.common import ROOT, machine_info, quick_main, write_result

NAME = "training_throughput"
MODELS = {  # label -> demo config
    "univtg_teacher": "configs/univtg_demo.yaml",
    "sdst_teacher": "configs/sdst_demo.yaml",
    "spikingvtg_student": "configs/spikingvtg_demo.yaml",
}
WARMUP = 2


def measure_model(config_path: str, steps: int, data) -> dict[str, Any]:
    """Steps per second of one model over ``steps`` timed steps after :data:`WARMUP` untimed ones."""
    import torch

    from vtg.data.collate import collate
    from vtg.data.dataset import VTGDataset
    from vtg.models import build_model

    config = yaml.safe_load((ROOT / config_path).read_text())
    section = dict(config["model"])
    name = section.pop("name")
    train = config.get("train", {})
    batch_size = int(train.get("batch_size", 16))
    dataset = VTGDataset(data, "train")
    torch.manual_seed(0)
    model = build_model(name, section, dataset.dims).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(train.get("lr", 1e-3)))
    clip = float(train.get("grad_clip", 0.0))
    total = WARMUP + steps
    batches = [collate([dataset[(i * batch_size + j) % len(dataset)] for j in range(batch_size)]) for i in range(total)]

    def step(batch: dict[str, Any]) -> float:
        loss = model.loss(model(batch), batch)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return float(loss)

    for batch in batches[:WARMUP]:
        step(batch)
    begin = time.perf_counter()
    losses = [step(batch) for batch in batches[WARMUP:]]
    seconds = time.perf_counter() - begin
    return {
        "config": config_path,
        "model": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": batch_size,
        "timed_steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "queries_per_s": steps * batch_size / seconds,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "model_config": section,
    }


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Measure every model of :data:`MODELS`; write and return the result."""
    data = demo_data()
    steps = 5 if quick else 20
    models = {}
    for label, config_path in MODELS.items():
        if progress:
            print(f"[{NAME}] {label}: {steps} steps ...", file=sys.stderr, flush=True)
        models[label] = measure_model(config_path, steps, data)
        if progress:
            print(f"[{NAME}]   {models[label]['steps_per_s']:.2f} steps/s", file=sys.stderr, flush=True)
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "data": {"root": str(data.relative_to(ROOT)), "preset": "demo", "split": "train"},
        "method": f"{WARMUP} warm-up steps, then {steps} timed steps (forward, loss, backward, clipping, AdamW) "
        "on pre-collated batches",
        "models": models,
    }
    write_result(NAME, result)
    return result


def headline(result: dict[str, Any]) -> dict[Any, float]:
    """What ``main`` prints: the one number per configuration a reader looks at first."""
    return {k: v["steps_per_s"] for k, v in result["models"].items()}


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, "5 timed steps per model", run, headline)


if __name__ == "__main__":
    sys.exit(main())
