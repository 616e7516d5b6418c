"""What a spiking timestep costs against a non-spiking transformer of the same shape, and under contention.

    python -m benchmarks.simulation_speed [--quick]

On batches of ``vtg data synth --preset demo`` train queries (batch 16, about 80 tokens):

* the demo student (configs/spikingvtg_demo.yaml: 1-bit NF, D 64, 2 layers, 2 heads, ffn 64, Tc 8,
  Jacobian-free implicit training) -- its evaluation forward at Tc and its training step;
* the UniVTG-style encoder of the same hidden size, depth, heads and ffn (configs/univtg_demo.yaml with the
  student's shape) -- its forward and its training step;
* SDST (configs/sdst_demo.yaml, D 64) and the UniVTG-style model at D 64 -- their training steps;

each with 1 and 2 intra-op threads, the six timings of a thread count in one fresh process (threads and
OpenMP settings are fixed at start-up), step by step in turn, so that the machine's drift during the run
(timings of separate processes moved by up to 30% here) touches every model alike. The headline ratios,
measured in the same run: the student's forward over Tc times the non-spiking forward (goal <= 1.5), its
training step over (Tc + 3) / 3 times the non-spiking step (goal <= 1.5), SDST's step over the UniVTG-
style step (goal <= 2), and the student's training step with one competing busy process over the same
step alone (goal <= 3): with 2 threads and OpenMP's default waiting (its idle threads spin, and a
spinning thread takes the time slice a working one needs), with 2 threads and ``OMP_WAIT_POLICY=PASSIVE``
(they sleep), with 1 thread, and with 2 threads under the thread governor ``vtg train`` uses when
``OMP_NUM_THREADS`` is not set (vtg/threads.py: it samples the cores other processes keep busy and lowers
the threads to those left free). Each timing is the median of its repeats after warm-up steps. Result:
benchmarks/results/simulation_speed.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import yaml

from benchmarks.assets import demo_data
from benchmarks.common import ROOT, machine_info, quick_main, write_result

NAME = "simulation_speed"
STUDENT = "configs/spikingvtg_demo.yaml"
SHAPE_KEYS = ("hidden_dim", "num_layers", "num_heads", "ffn_dim")


def configs() -> dict[str, tuple[str, dict[str, Any]]]:
    """label -> (model name, model section): the student, the same-shape non-spiking model, SDST."""
    student = yaml.safe_load((ROOT / STUDENT).read_text())["model"]
    univtg = yaml.safe_load((ROOT / "configs" / "univtg_demo.yaml").read_text())["model"]
    sdst = yaml.safe_load((ROOT / "configs" / "sdst_demo.yaml").read_text())["model"]
    same_shape = {**univtg, **{key: student[key] for key in SHAPE_KEYS}}
    univtg_at_sdst = {**univtg, "hidden_dim": sdst["hidden_dim"], "num_heads": sdst["num_heads"]}
    return {
        "student": ("spikingvtg", student),
        "nonspiking_same_shape": ("univtg", same_shape),
        "sdst": ("sdst", sdst),
        "univtg_at_sdst_size": ("univtg", univtg_at_sdst),
    }


KEYS = (  # label/what of every timing of the ratios
    "student/forward",
    "student/train",
    "nonspiking_same_shape/forward",
    "nonspiking_same_shape/train",
    "sdst/train",
    "univtg_at_sdst_size/train",
)


def measure(keys: list[str], threads: int, steps: int, governed: bool = False) -> dict[str, float]:
    """Median seconds of one step of each ``label/what`` in ``keys`` (``forward`` or ``train``), the keys
    measured in turn (A, B, ..., A, B, ...) so that a drift of the machine during the run touches each alike;
    ``governed``: a :class:`~vtg.threads.ThreadGovernor` polled before every step, as in vtg train. Runs in
    a worker (:func:`in_worker`)."""
    import torch

    from vtg.data.collate import collate
    from vtg.data.dataset import VTGDataset
    from vtg.models import build_model
    from vtg.threads import ThreadGovernor

    torch.set_num_threads(threads)
    dataset = VTGDataset(demo_data(), "train")
    batches = [collate([dataset[(i * 16 + j) % len(dataset)] for j in range(16)]) for i in range(4)]

    def runner(key: str) -> Any:
        label, what = key.split("/")
        name, section = configs()[label]
        torch.manual_seed(0)
        model = build_model(name, {k: v for k, v in section.items() if k != "name"}, dataset.dims)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def once(batch: dict[str, Any]) -> None:
            if what == "forward":
                model.eval()
                with torch.no_grad():
                    model(batch)
                return
            model.train()
            loss = model.loss(model(batch), batch)["total"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return once

    runs = {key: runner(key) for key in keys}
    governor = ThreadGovernor(interval_s=0.5) if governed else None
    warm_until = time.perf_counter() + (1.5 if governed else 0.0)  # the governor has sampled by then
    for i in range(100):
        for once in runs.values():
            once(batches[i % 2])  # warm-up: 2 steps each, or until the governor has sampled
        if governor is not None:
            governor.poll()
        if i >= 1 and time.perf_counter() >= warm_until:
            break
    times: dict[str, list[float]] = {key: [] for key in keys}
    for i in range(steps):
        for key, once in runs.items():
            if governor is not None:
                governor.poll()
            begin = time.perf_counter()
            once(batches[i % len(batches)])
            times[key].append(time.perf_counter() - begin)
    return {key: statistics.median(values) for key, values in times.items()}


def in_worker(
    keys: list[str], threads: int, steps: int, env: dict[str, str] | None = None, governed: bool = False
) -> dict[str, float]:
    """:func:`measure` in a fresh Python process (its own thread pool and OpenMP settings)."""
    arguments = f"{list(keys)!r}, {threads}, {steps}, governed={governed}"
    code = f"import json; from benchmarks.simulation_speed import measure; print(json.dumps(measure({arguments})))"
    # OpenMP's own default unless ``env`` says otherwise, whatever the benchmark was started with
    base = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {', '.join(keys)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def contended(threads: int, steps: int, env: dict[str, str], governed: bool = False) -> float:
    """The student's training step while one busy process spins on a core."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        return in_worker(["student/train"], threads, steps, env, governed)["student/train"]
    finally:
        busy.kill()
        busy.wait()


def run(quick: bool = False) -> dict[str, Any]:
    steps = 3 if quick else 10
    demo_data()  # built once, before any worker runs
    tc = int(configs()["student"][1]["tc"])
    times: dict[str, dict[str, float]] = {key: {} for key in KEYS}
    for threads in (1, 2):
        for key, seconds in in_worker(list(KEYS), threads, steps).items():
            times[key][str(threads)] = seconds
            print(f"[{NAME}] {key}, {threads} thread(s): {seconds:.4f} s", file=sys.stderr)
    passive = {"OMP_WAIT_POLICY": "PASSIVE"}
    student = ["student/train"]
    # each slowdown's two timings come from processes of the same kind (one model each): the six-model
    # processes above run at another speed
    contention = {
        "alone_default": in_worker(student, 2, steps)["student/train"],
        "busy_default": contended(2, steps, {}),
        "alone_passive": in_worker(student, 2, steps, passive)["student/train"],
        "busy_passive": contended(2, steps, passive),
        "alone_1_thread": in_worker(student, 1, steps)["student/train"],
        "busy_1_thread": contended(1, steps, {}),
        "alone_governed": in_worker(student, 2, steps, governed=True)["student/train"],
        "busy_governed": contended(2, steps, {}, governed=True),
    }
    ratios = {}
    for threads in ("1", "2"):
        ratios[threads] = {
            "forward_over_tc_nonspiking": times["student/forward"][threads]
            / (tc * times["nonspiking_same_shape/forward"][threads]),
            "train_over_tc_plus_3_thirds_nonspiking": times["student/train"][threads]
            / ((tc + 3) / 3 * times["nonspiking_same_shape/train"][threads]),
            "sdst_over_univtg_train": times["sdst/train"][threads] / times["univtg_at_sdst_size/train"][threads],
        }
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "tc": tc,
        "method": f"median of {steps} steps after 2 warm-up steps (governed: at least 1.5 s of them), batch 16 "
        "of demo train queries; the ratios' six timings in one fresh process per thread count, measured in "
        "turn; each contention timing, and each slowdown's baseline alone, in a fresh one-model process of its own",
        "configs": {label: section for label, (_, section) in configs().items()},
        "seconds": times,
        "ratios": ratios,
        "contention": {
            "seconds": contention,
            "slowdown_default": contention["busy_default"] / contention["alone_default"],
            "slowdown_passive": contention["busy_passive"] / contention["alone_passive"],
            "slowdown_1_thread": contention["busy_1_thread"] / contention["alone_1_thread"],
            # the acceptance's measure: vtg train's default (the governor) busy against alone
            "slowdown_governed": contention["busy_governed"] / contention["alone_governed"],
            # what a user on a shared machine gets against the best case of an idle one
            "busy_1_thread_over_alone_2_threads": contention["busy_1_thread"] / contention["alone_default"],
            "busy_passive_over_alone_2_threads": contention["busy_passive"] / contention["alone_default"],
        },
    }
    write_result(NAME, result)
    return result


def headline(result: dict[str, Any]) -> dict[str, Any]:
    return {"ratios": result["ratios"], "contention": {k: v for k, v in result["contention"].items() if k != "seconds"}}


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, "3 timed steps per measurement instead of 10", run, headline)


if __name__ == "__main__":
    sys.exit(main())
