"""Simulate a split of a dataset with a bundle in Lava, optionally against the PyTorch references.

:func:`simulate_split` is what ``vtg simulate`` and benchmarks/lava_vs_torch.py run: one Lava network
(compiled once), Tc Lava steps per query, predictions in the official format, each query's activity, and
with ``compare`` the reference of the same precision run on the same queries:

* fixed point: the PyTorch integer reference (export/integer_reference.py); every spike of every
  population, token and step must agree (``spike_mismatches`` = 0), and so must the outputs;
* floating point: the PyTorch model itself in float64 (export/float_reference.py); outputs agree to
  :data:`FLOAT_TOLERANCE` (sums in another order can flip a spike that sits exactly on a threshold).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from export.bundle import Bundle
from hw_sim.activity import QueryActivity, query_activity
from hw_sim.runner import DEADLINE_S, LavaSimulation, QueryResult
from vtg.errors import UserError

BATCH = 16  # queries side by side in one Lava run (``vtg simulate --batch``)
FLOAT_TOLERANCE = 1e-6  # max |Lava float - PyTorch float64| on the read-outs, when no spike differs
OUTPUTS = ("foreground_logits", "boundary", "score", "gate")


@dataclasses.dataclass
class Query:
    """One query's real features (last backbone level) and its meta data."""

    video: np.ndarray  # (Lv, Dv)
    text: np.ndarray  # (Lq, Dt)
    meta: dict[str, Any]


@dataclasses.dataclass
class SimulationReport:
    predictions: list[dict[str, Any]]
    activity: list[QueryActivity]  # one per query, in order
    queries: int
    seconds: float  # simulation time of the queries, compiling and starting excluded
    compile_s: float
    num_processes: int
    batch: int  # queries side by side per Lava run
    spike_mismatches: int | None = None
    spikes_compared: int | None = None
    output_differences: dict[str, float] | None = None
    reference_predictions: list[dict[str, Any]] | None = None
    reference_seconds: float | None = None

    @property
    def queries_per_s(self) -> float:
        return self.queries / self.seconds if self.seconds > 0 else float("inf")


def load_queries(data: str, split: str, limit: int | None, bundle: Bundle) -> tuple[Any, list[Query]]:
    """The split's first ``limit`` queries (videos cut to the bundle's ``max_clips``), checked against the bundle."""
    from vtg.data.dataset import VTGDataset
    from vtg.evaluation import nonempty

    arch = bundle.architecture
    dataset = nonempty(VTGDataset(data, split, max_video_len=arch["max_clips"], require_labels=False))
    dims = dataset.dims
    if dims["video_dim"] != arch["video_dim"] or dims["text_dim"] != arch["text_dim"]:
        raise UserError(
            f"{data}: features of size video {dims['video_dim']}, text {dims['text_dim']}; the bundle "
            f"{bundle.path} expects video_dim {arch['video_dim']}, text_dim {arch['text_dim']}"
        )
    count = len(dataset) if limit is None else min(limit, len(dataset))
    queries = []
    for i in range(count):
        item = dataset[i]
        queries.append(Query(item["video"][:, -1].double().numpy(), item["text"][:, -1].double().numpy(), item["meta"]))
    return dataset, queries


def prediction(result: Any, meta: dict[str, Any], arch: dict[str, Any]) -> dict[str, Any]:
    """The official prediction line from read-outs (as the model's predict: HD scores sigmoid(f) + gate)."""
    from vtg.postprocess.predictions import clipwise_prediction

    # in float32, as SpikingVTG.predict (spiking/inference.py)
    foreground = torch.as_tensor(np.asarray(result.foreground_logits)).float().sigmoid()  # (Lv,)
    boundary = torch.as_tensor(np.asarray(result.boundary)).float()  # (Lv, 2)
    saliency = foreground + torch.as_tensor(np.asarray(result.gate)).float()  # (Lv,) f + s
    return clipwise_prediction(meta, foreground, boundary, saliency, arch["nms_threshold"], arch["max_windows"])


def simulate_split(
    bundle: Bundle,
    queries: list[Query],
    precision: str,
    tc: int,
    compare: bool = False,
    progress: bool = True,
    on_query: Any = None,
    deadline_s: float = DEADLINE_S,
    batch: int = BATCH,
) -> SimulationReport:
    """Run every query through one Lava network, ``batch`` queries side by side per run of Tc steps;
    ``on_query(i, result)`` is called after each query.

    ``deadline_s``: the longest a Lava call (starting with the first batch, or one batch) may take
    before the simulation is stopped by force (:class:`hw_sim.runner.LavaTimeout`)."""
    arch = bundle.architecture
    max_video = max(q.video.shape[0] for q in queries)
    max_text = max(q.text.shape[0] for q in queries)
    reference = reference_runner(bundle, precision) if compare else None
    activity = []
    predictions, reference_predictions = [], []
    mismatches = compared = 0
    differences = dict.fromkeys(OUTPUTS, 0.0)
    reference_seconds = 0.0
    # as few runs as ``batch`` allows, shared evenly: padding rows (a short last batch) cost work
    runs = -(-len(queries) // max(1, batch))
    batch = -(-len(queries) // runs)
    with LavaSimulation(
        bundle, precision, tc, max_video, max_text, record=compare, deadline_s=deadline_s, batch=batch
    ) as sim:
        bar = tqdm(total=len(queries), desc=f"lava {precision}", unit="query", file=sys.stderr, disable=not progress)
        for i, query, result in _batched(sim, queries, batch, bar):
            activity.append(query_activity(arch, result.counts, query.video.shape[0], query.text.shape[0], precision))
            predictions.append(prediction(result, query.meta, arch))
            if reference is not None:
                begin = time.perf_counter()
                expected = reference(query.video, query.text, tc)
                reference_seconds += time.perf_counter() - begin
                reference_predictions.append(prediction(_numpy(expected), query.meta, arch))
                for name, spikes in expected.spikes.items():
                    mismatches += int((spikes.numpy() != result.spikes[name]).sum())
                    compared += spikes.numel()
                for name in OUTPUTS:
                    gap = np.abs(np.asarray(getattr(expected, name)) - getattr(result, name)).max()
                    differences[name] = max(differences[name], float(gap))
            if on_query is not None:
                on_query(i, result)
        bar.close()
        seconds = sim.run_s
        compile_s, num_processes = sim.compile_s, sim.num_processes
    return SimulationReport(
        predictions=predictions,
        activity=activity,
        queries=len(queries),
        seconds=seconds - compile_s,  # the first batch compiled the network and started its OS processes
        compile_s=compile_s,
        num_processes=num_processes,
        batch=batch,
        spike_mismatches=mismatches if compare else None,
        spikes_compared=compared if compare else None,
        output_differences=differences if compare else None,
        reference_predictions=reference_predictions if compare else None,
        reference_seconds=reference_seconds if compare else None,
    )


def _batched(sim: LavaSimulation, queries: list[Query], batch: int, bar: Any):
    """(index, query, result) of every query, simulated ``batch`` at a time."""
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        results = sim.run_batch([(q.video, q.text) for q in chunk])
        bar.update(len(chunk))
        yield from zip(range(start, start + len(chunk)), chunk, results)


def reference_runner(bundle: Bundle, precision: str):
    """run(video, text, tc) -> ReferenceRun of the PyTorch reference of ``precision``, from real features
    (the host input layers applied as the Lava runner applies them; the float model holds them itself)."""
    if precision == "fixed":
        from export.integer_reference import IntegerReference

        integer = IntegerReference(*bundle.parameters("fixed"))
        return lambda video, text, tc: integer.run(*bundle.host_input(video, text), tc)
    from export.float_reference import float_reference, model_from_bundle

    model = model_from_bundle(bundle)
    return lambda video, text, tc: float_reference(model, video, text, tc)


def _numpy(run: Any) -> QueryResult:
    return QueryResult(*(getattr(run, name).detach().numpy() for name in OUTPUTS), counts={}, spikes=None)
