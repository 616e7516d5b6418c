"""Training memory and step time of SpikingVTG: implicit differentiation against BPTT, as Tc grows.

    python -m benchmarks.implicit_vs_bptt [--quick | --paper]

The paper (Sec. 4.5) trains at equilibrium because back-propagation through time keeps every
timestep's activations: 20 GB against more than 100 GB. Here each (grad, Tc) configuration runs in a
fresh Python process (``--worker``), so no allocator cache or earlier peak of another configuration
leaks into its numbers. A worker builds the model, a random batch of the chosen shape and the
optimizer, then measures one training step:

* ``peak_rss_delta_mb``: the kernel's high-water mark of the process's resident memory (VmHWM)
  over forward + backward, minus the resident memory (VmRSS) just before the step; the mark is reset
  to the current RSS right before the step (``/proc/self/clear_refs``), so transients of the set-up
  (building the model, a graph-free warm-up timestep that takes one-time kernel workspaces) do not
  hide under it. The difference is what the step itself needs at its peak: the autograd graph, the
  backward's transient tensors and, for implicit, the adjoint solve. On CPU glibc serves large
  tensors with mmap and returns them on free, so RSS follows live tensors closely.
* ``saved_tensor_mb``: the bytes of the distinct storages autograd saves for backward during the
  forward pass (``torch.autograd.graph.saved_tensors_hooks``): the graph alone, exact and independent
  of the allocator and of the machine's load. It is a lower bound of the step's memory: the
  backward's gradient buffers, forward outputs held outside autograd's saved set and allocator
  slack show only in the peak.
* ``step_s``: median wall time of the next steps (forward, backward, AdamW step), the first excluded.

``--paper`` adds the saved graph at the paper preset's own batch of 32, where BPTT's graph (about 26 GB)
does not fit this machine: the model's forward runs on fake tensors (``FakeTensorMode``: shapes and
storages, no data), so the bytes of its saved storages are counted exactly without being allocated. The
same count at the measured batch, beside the real one in the same run, checks it.

Every worker runs on the CPU, GPU or not: the peak it compares is the process's resident memory, where a
GPU's activations would not be.
The result goes to benchmarks/results/implicit_vs_bptt.json and a plot beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, ROOT, machine_info, write_result
from vtg.json_file import to_json

NAME = "implicit_vs_bptt"
TCS = (2, 5, 10, 20)
# activation memory dominates at this size: per timestep and layer BPTT keeps about 20 tensors of
# (B, L, D) and (B, H, L, L), against the model's 4 x (4 D^2 + 2 D ffn) weights
FULL = {
    "model": {"variant": "base", "hidden_dim": 256, "num_layers": 4, "num_heads": 8, "ffn_dim": 256},
    "batch_size": 8,  # 16 doubles both memories (their ratio stays) and takes ~7 min on 2 loaded cores
    "video_len": 75,
    "query_len": 20,
    "feature_dim": 256,
    "timed_steps": 1,
}
QUICK = {
    "model": {"variant": "base", "hidden_dim": 64, "num_layers": 2, "num_heads": 4, "ffn_dim": 64},
    "batch_size": 8,
    "video_len": 40,
    "query_len": 12,
    "feature_dim": 64,
    "timed_steps": 1,
}
# the paper preset's shape (configs/spikingvtg_paper.yaml: 1-bit NF, D 1024, 4 layers, 8 heads, ffn 1024;
# 75 clips + 32 tokens) at Tc 20 only. Batch 4 on a 24 GB CPU machine: BPTT at the preset's batch of 32 needs
# about 27 GB (measured on an H100). The saved graph is the weights' part (the same for both methods) plus a
# part that grows with the batch, so the batch-32 ratio is larger than the one measured here.
PAPER = {
    "model": {"variant": "1bit_nf", "hidden_dim": 1024, "num_layers": 4, "num_heads": 8, "ffn_dim": 1024},
    "batch_size": 4,
    "video_len": 75,
    "query_len": 32,
    "feature_dim": 1024,
    "timed_steps": 1,
    "tcs": [20],
}
PRESET_BATCH = 32  # configs/spikingvtg_paper.yaml's train.batch_size
# the adjoint solve of the implicit backward: the demo configs' GMRES with a fixed number of products,
# so that every Tc does the same backward work
SOLVER = {"solver": "gmres", "solver_iters": 20, "solver_tol": 1e-4, "f_layers": 2, "d_layers": 2}


def make_batch(batch_size: int, video_len: int, query_len: int, dim: int, seed: int = 0) -> dict[str, Any]:
    """A full-length random batch in the layout of vtg.data.collate (one window per query).

    Memory depends on shapes, not values, so random features are as good as real ones here; every
    clip and token is real (no padding) so that the sequence lengths are exactly those reported.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    b, lv, lq = batch_size, video_len, query_len
    starts = torch.randint(0, lv // 2, (b,), generator=g)
    lengths = torch.randint(3, lv // 3, (b,), generator=g)
    clips = torch.arange(lv)[None, :]  # (1, Lv)
    inside = (clips >= starts[:, None]) & (clips < (starts + lengths)[:, None])  # (B, Lv)
    centre = clips + 0.5
    boundary = torch.stack([centre - starts[:, None], (starts + lengths)[:, None] - centre], dim=-1)  # (B, Lv, 2)
    return {
        "video": torch.randn(b, lv, 1, dim, generator=g),  # (B, Lv, K=1, Dv)
        "video_mask": torch.ones(b, lv, dtype=torch.bool),
        "text": torch.randn(b, lq, 1, dim, generator=g),  # (B, Lq, Kt=1, Dt)
        "text_mask": torch.ones(b, lq, dtype=torch.bool),
        "foreground": inside.float(),
        "boundary": boundary * inside[:, :, None],
        "saliency": inside.float() * torch.rand(b, lv, generator=g),
        "saliency_valid": torch.ones(b, dtype=torch.bool),
        "windows": [torch.tensor([[2.0 * s, 2.0 * (s + n)]]) for s, n in zip(starts.tolist(), lengths.tolist())],
        "meta": [{"qid": i, "vid": f"v{i}", "query": "", "duration": 2.0 * lv, "clip_len": 2.0} for i in range(b)],
    }


def proc_status_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def start_peak() -> tuple[float, str]:
    """Restart the peak-RSS count here; return the resident memory now (the step's baseline) and the method.

    Linux resets the high-water mark VmHWM to the current RSS when "5" is written to
    /proc/self/clear_refs, so the later VmHWM is the peak of the step alone, not of the set-up before
    it. Without that file (not Linux), the baseline is ru_maxrss, the peak so far.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return proc_status_mb("VmRSS"), "VmHWM after clear_refs"
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "ru_maxrss"


def peak_rss_mb(method: str) -> float:
    """The peak resident memory since :func:`start_peak` (ru_maxrss is in KiB on Linux)."""
    if method == "ru_maxrss":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return proc_status_mb("VmHWM")


def worker(grad: str, tc: int, setup: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration in this (fresh) process; see the module docstring."""
    import torch

    from spiking.model import build

    torch.manual_seed(0)
    torch.set_num_threads(1)  # a shared 2-core machine: one thread keeps timings comparable between runs
    config = {**setup["model"], **SOLVER, "grad": grad, "tc": tc}
    dims = {"video_dim": setup["feature_dim"], "text_dim": setup["feature_dim"], "video_levels": 1, "text_levels": 1}
    model = build(config, dims).train()
    batch = make_batch(setup["batch_size"], setup["video_len"], setup["query_len"], setup["feature_dim"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()  # a storage saved by several nodes counts once
        return tensor

    with torch.no_grad():
        # one graph-free timestep first: kernels' one-time workspaces and lazy initialisation land in the
        # baseline, not in the step (its own peak, one timestep's activations, is below either method's)
        model(batch, tc=1)
    gc.collect()
    base, rss_method = start_peak()
    begin = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model.loss(model(batch), batch)["total"]
    loss.backward()
    first_step_s = time.perf_counter() - begin
    peak = peak_rss_mb(rss_method)
    result = {
        "grad": grad,
        "tc": tc,
        "rss_method": rss_method,
        "baseline_rss_mb": base,
        "peak_rss_mb": peak,
        "peak_rss_delta_mb": peak - base,
        "saved_tensor_mb": sum(storages.values()) / 2**20,
        "first_step_s": first_step_s,
        "loss": float(loss),
    }
    if grad == "implicit":
        result["adjoint_residual"] = model.implicit.last_residual
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    times = []
    for _ in range(setup["timed_steps"]):
        begin = time.perf_counter()
        model.loss(model(batch), batch)["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - begin)
    result["step_s"] = statistics.median(times)
    result["step_times_s"] = times
    return result


def graph_mb(grad: str, tc: int, setup: dict[str, Any], batch_size: int, fake: bool = True) -> float:
    """MB of the distinct storages the model's forward saves for backward, counted on fake tensors.

    Under ``FakeTensorMode`` every tensor has its shape, dtype and storage but no data, so a graph of any
    size is built for free (``fake=False``: the same count on real tensors, the check). Every saved
    tensor is held until the count ends, so a storage's identity (``_cdata``, its StorageImpl) is never
    reused by a later one; a part of the graph the forward drops midway still counts (an upper bound of
    the final graph, for both methods alike). The loss is left out: its boolean indexing has a
    data-dependent shape, and its graph is the same for both methods (under 1 MB at batch 4, part of the
    real measurement).
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from spiking.model import build

    config = {**setup["model"], **SOLVER, "grad": grad, "tc": tc}
    dims = {"video_dim": setup["feature_dim"], "text_dim": setup["feature_dim"], "video_levels": 1, "text_levels": 1}
    batch = make_batch(batch_size, setup["video_len"], setup["query_len"], setup["feature_dim"])
    storages: dict[int, int] = {}
    held: list[torch.Tensor] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        base = tensor if tensor._base is None else tensor._base
        # a fake storage is sized by the first view taken of it, so take the base tensor's extent as well
        extent = base.storage_offset() + sum((n - 1) * s for n, s in zip(base.shape, base.stride())) + 1
        nbytes = max(base.untyped_storage().nbytes(), extent * base.element_size() if base.numel() else 0)
        key = base.untyped_storage()._cdata
        storages[key] = max(storages.get(key, 0), nbytes)
        held.append(tensor)
        return tensor

    with FakeTensorMode(allow_non_fake_inputs=True) if fake else contextlib.nullcontext() as mode:
        if fake:
            batch = {k: mode.from_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        model = build(config, dims).train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(batch)
    return sum(storages.values()) / 2**20


def measure(grad: str, tc: int, size: str) -> dict[str, Any]:
    """Run :func:`worker` in a fresh interpreter and read its JSON line."""
    command = [sys.executable, "-m", "benchmarks.implicit_vs_bptt", "--worker", grad, str(tc), "--size", size]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker {grad} Tc={tc} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(result: dict[str, Any], path: Path) -> None:
    """Peak training memory (and the saved graph) against Tc for both methods."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for grad, colour in (("implicit", "tab:blue"), ("bptt", "tab:red")):
        rows = [r for r in result["runs"] if r["grad"] == grad]
        tcs = [r["tc"] for r in rows]
        ax.plot(tcs, [r["peak_rss_delta_mb"] for r in rows], "o-", color=colour, label=f"{grad}: peak RSS of the step")
        ax.plot(tcs, [r["saved_tensor_mb"] for r in rows], "s--", color=colour, alpha=0.6, label=f"{grad}: saved graph")
    ax.set_xlabel("Tc (timesteps)")
    ax.set_ylabel("MB")
    ax.set_xticks(sorted({r["tc"] for r in result["runs"]}))
    s = result["setup"]
    ax.set_title(
        f"SpikingVTG training memory (D={s['model']['hidden_dim']}, {s['model']['num_layers']} layers, "
        f"B={s['batch_size']}, L={s['video_len']}+{s['query_len']})",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


SETUPS = {"full": FULL, "quick": QUICK, "paper": PAPER}


def run(quick: bool = False, progress: bool = True, paper: bool = False) -> dict[str, Any]:
    """Every (grad, Tc) in its own process; writes the JSON and the PNG; returns the result.

    ``paper``: the paper preset's shape at Tc 20 (:data:`PAPER`), written to ``implicit_vs_bptt_paper.json``.
    """
    size = "paper" if paper else "quick" if quick else "full"
    setup = SETUPS[size]
    tcs = tuple(setup.get("tcs", TCS))
    runs = []
    for grad in ("implicit", "bptt"):
        for tc in tcs:
            if progress:
                print(f"[{NAME}] {grad} Tc={tc} ...", file=sys.stderr, flush=True)
            runs.append(measure(grad, tc, size))
            if progress:
                r = runs[-1]
                print(
                    f"[{NAME}]   peak +{r['peak_rss_delta_mb']:.0f} MB, graph {r['saved_tensor_mb']:.0f} MB, "
                    f"step {r['step_s']:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    by = {(r["grad"], r["tc"]): r for r in runs}
    ratios = {
        str(tc): {
            "peak_rss": by["bptt", tc]["peak_rss_delta_mb"] / by["implicit", tc]["peak_rss_delta_mb"],
            "saved_graph": by["bptt", tc]["saved_tensor_mb"] / by["implicit", tc]["saved_tensor_mb"],
            "step_time": by["bptt", tc]["step_s"] / by["implicit", tc]["step_s"],
        }
        for tc in tcs
    }
    implicit_peaks = [by["implicit", tc]["peak_rss_delta_mb"] for tc in tcs]
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "method": (
            "each (grad, Tc) in a fresh process on CPU; peak_rss_delta_mb = VmHWM over the first "
            "forward+backward (reset by /proc/self/clear_refs just before it) minus VmRSS just before it; "
            "saved_tensor_mb = distinct storages saved for "
            "backward during the forward (saved_tensors_hooks); step_s = median of the following full steps "
            "(forward, backward, AdamW), 1 torch thread"
        ),
        "setup": {**setup, "tcs": list(tcs), "solver": SOLVER},
        "runs": runs,
        "bptt_over_implicit": ratios,
        "implicit_peak_spread": max(implicit_peaks) / min(implicit_peaks),
    }
    if paper:
        # the model's forward graph on fake tensors, at the measured batch (a check against the real graph
        # above) and at the preset's batch (configs/spikingvtg_paper.yaml), where BPTT's does not fit here
        fake = {
            str(b): {grad: graph_mb(grad, 20, setup, b) for grad in ("implicit", "bptt")}
            for b in (setup["batch_size"], PRESET_BATCH)
        }
        for counts in fake.values():
            counts["bptt_over_implicit"] = counts["bptt"] / counts["implicit"]
        result["fake_tensor_graph_mb"] = fake
        preset_ratio = fake[str(PRESET_BATCH)]["bptt_over_implicit"]
        if progress:
            print(f"[{NAME}] saved graph at batch {PRESET_BATCH} (fake tensors): {preset_ratio:.1f}x", file=sys.stderr)
        result["acceptance"] = {
            "saved_ratio_at_tc20_at_least_10": ratios["20"]["saved_graph"] >= 10.0,
            "saved_ratio_at_tc20_preset_batch_at_least_10": preset_ratio >= 10.0,
        }
        path = write_result(f"{NAME}_paper", result)
        result["files"] = [str(path.relative_to(ROOT))]
        return result
    result["acceptance"] = {
        "implicit_flat": max(implicit_peaks) / min(implicit_peaks) < 1.5,
        "ratio_at_tc10_at_least_5": ratios["10"]["peak_rss"] >= 5.0,
    }
    path = write_result(NAME, result)
    plot(result, RESULTS / f"{NAME}.png")
    result["files"] = [str(path.relative_to(ROOT)), f"benchmarks/results/{NAME}.png"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small model and batch (seconds)")
    parser.add_argument("--paper", action="store_true", help="the paper shape at Tc 20 (batch 4; 32 on fake tensors)")
    parser.add_argument("--worker", nargs=2, metavar=("GRAD", "TC"), help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=tuple(SETUPS), default="full", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        grad, tc = args.worker
        print(json.dumps(worker(grad, int(tc), SETUPS[args.size])))
        return 0
    result = run(args.quick, paper=args.paper)
    print(to_json(result["bptt_over_implicit"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
