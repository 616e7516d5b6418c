"""Lava CPU simulation against PyTorch, through the Lava engineer's benchmarks/lava_vs_torch.py.

    python -m benchmarks.lava_simulation [--quick]

That script is the one entry point of the comparison (its ``main`` parses its own command line), so it
runs here as a subprocess on the student bundle of :mod:`benchmarks.assets` and the demo val split,
writing benchmarks/results/lava_simulation.json (its own default file, lava_vs_torch.json, holds the numbers its
author measured and is left alone). ``--quick`` simulates 10 queries instead of 50.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks.assets import STUDENT_TRAINING, WORK, demo_data, lava_bundle
from benchmarks.common import RESULTS, ROOT, machine_info, quick_main, write_result

NAME = "lava_simulation"


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run lava_vs_torch.py on the bundle; return its result with the machine's description added."""
    data, bundle = demo_data(), lava_bundle(quick)
    out = RESULTS / f"{NAME}.json"
    limit = "10" if quick else "50"
    command = [sys.executable, str(ROOT / "benchmarks" / "lava_vs_torch.py"), "--bundle", str(bundle),
               "--data", str(data), "--split", "val", "--limit", limit, "--out", str(out)]  # fmt: skip
    if progress:
        print(f"[{NAME}] lava_vs_torch.py on {limit} val queries ...", file=sys.stderr, flush=True)
    log = WORK / "lava.log"
    with open(log, "w") as stream:
        done = subprocess.run(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"lava_vs_torch.py failed ({done.returncode}): {log.read_text()[-2000:]}")
    result = json.loads(out.read_text())
    # paths relative to the repository, so the committed file does not name this machine's folders
    result["bundle"], result["data"] = str(bundle.relative_to(ROOT)), str(data.relative_to(ROOT))
    machine = {**result.get("machine", {}), **machine_info()}
    result.update({"benchmark": NAME, "quick": quick, "student_training": STUDENT_TRAINING, "machine": machine})
    write_result(NAME, result)
    return result


def headline(result: dict[str, Any]) -> dict[Any, float]:
    """What ``main`` prints: the one number per configuration a reader looks at first."""
    return {p: v["lava_queries_per_s"] for p, v in result["precisions"].items()}


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, "10 queries instead of 50", run, headline)


if __name__ == "__main__":
    sys.exit(main())
