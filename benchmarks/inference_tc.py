"""Inference speed of SpikingVTG against the number of timesteps Tc.

    python -m benchmarks.inference_tc [--quick]

The student of :mod:`benchmarks.assets` (1-bit NF, demo size) answers batches of demo val queries at
Tc = 1, 2, 4, 8, 16 in PyTorch (``model(batch, tc=Tc)`` under ``no_grad``, then ``model.predict``, the
NMS included). Each Tc gets one untimed warm-up batch, then the fastest of 3 passes over 64
queries counts (one pass over 32 with ``--quick``). Since every timestep is a full pass of the
encoder, the time should grow about linearly with Tc on top of a Tc-independent part (input
projections, post-processing). Result: benchmarks/results/inference_tc.json.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from benchmarks.assets import STUDENT_TRAINING, demo_data, student_checkpoint
from benchmarks.common import ROOT, machine_info, quick_main, write_result

NAME = "inference_tc"
TCS = (1, 2, 4, 8, 16)
BATCH_SIZE = 16


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Queries per second at each Tc; writes and returns the result."""
    import torch

    from vtg.checkpoint import load_model
    from vtg.data.collate import collate
    from vtg.data.dataset import VTGDataset

    data = demo_data()
    checkpoint = student_checkpoint(quick)
    model, _ = load_model(checkpoint)
    model.eval()
    dataset = VTGDataset(data, "val")
    queries = 32 if quick else 64
    repeats = 1 if quick else 3
    batches = [
        collate([dataset[i] for i in range(start, min(start + BATCH_SIZE, queries))])
        for start in range(0, queries, BATCH_SIZE)
    ]
    points = []
    with torch.no_grad():
        for tc in TCS:
            model.predict(batches[0], model(batches[0], tc=tc))  # warm-up
            passes = []
            for _ in range(repeats):
                begin = time.perf_counter()
                for batch in batches:
                    model.predict(batch, model(batch, tc=tc))
                passes.append(time.perf_counter() - begin)
            # the fastest pass: on a shared machine the others' load only ever adds time
            seconds = min(passes)
            points.append(
                {
                    "tc": tc,
                    "seconds": seconds,
                    "pass_seconds": passes,
                    "queries_per_s": queries / seconds,
                    "ms_per_query": 1e3 * seconds / queries,
                }
            )
            if progress:
                print(f"[{NAME}] Tc={tc}: {queries / seconds:.1f} queries/s", file=sys.stderr, flush=True)
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "checkpoint": str(checkpoint.relative_to(ROOT)),
        "student_training": STUDENT_TRAINING,
        "model_config": {k: v for k, v in vars(model.config).items()},
        "data": {"root": str(data.relative_to(ROOT)), "split": "val", "queries": queries, "batch_size": BATCH_SIZE},
        "method": f"model(batch, tc) + model.predict under no_grad, one warm-up batch per Tc, fastest of {repeats} "
        "passes",
        "points": points,
    }
    write_result(NAME, result)
    return result


def headline(result: dict[str, Any]) -> dict[Any, float]:
    """What ``main`` prints: the one number per configuration a reader looks at first."""
    return {p["tc"]: p["queries_per_s"] for p in result["points"]}


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, "32 queries and one pass instead of 64 and 3", run, headline)


if __name__ == "__main__":
    sys.exit(main())
