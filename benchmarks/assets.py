"""What several benchmarks run on, built once and reused: the demo dataset, a student, its Lava bundle.

Everything lives under runs/bench/ (ignored by git). Each builder skips its work when the output is
already there, so a second ``python -m benchmarks.run_all`` only measures. The student is trained
briefly (not to convergence): the benchmarks measure speed and energy, and the Lava comparison checks
fixed against floating point on the same weights, neither of which needs a good model.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from benchmarks.common import ROOT, WORK, run_json, tool

DATA = WORK / "data"
STUDENT_CONFIG = ROOT / "configs" / "spikingvtg_demo.yaml"  # the 1-bit NF student the Lava export takes
# the student's training budget: one epoch of this many batches (about a minute on 2 cores); the folders
# are named after it and after the config's bytes, so a changed budget or preset never reuses a student
# trained with another
STUDENT_BATCHES = 10
_TAG = f"{STUDENT_BATCHES}b_{hashlib.sha1(STUDENT_CONFIG.read_bytes()).hexdigest()[:8]}"
STUDENT = WORK / f"student_{_TAG}"
BUNDLE = WORK / f"bundle_{_TAG}"
STUDENT_TRAINING = f"vtg train --config configs/spikingvtg_demo.yaml --epochs 1 --limit-train-batches {STUDENT_BATCHES}"


def say(message: str) -> None:
    print(f"[assets] {message}", file=sys.stderr, flush=True)


def demo_data() -> Path:
    """``vtg data synth --preset demo`` (800 train, 200 val queries) into runs/bench/data."""
    if not (DATA / "dataset.yaml").is_file():
        say(f"vtg data synth --preset demo --out {DATA}")
        run_json(
            [tool("vtg"), "data", "synth", "--out", str(DATA), "--preset", "demo", "--seed", "0", "--force", "--json"]
        )
    return DATA


def student_checkpoint(quick: bool = False) -> Path:
    """A 1-bit NF SpikingVTG student trained for one short epoch (:data:`STUDENT_TRAINING`).

    ``quick`` does not change it: quick and full runs measure the same model.
    """
    checkpoint = STUDENT / "last.ckpt"
    if not checkpoint.is_file():
        data = demo_data()
        batches = str(STUDENT_BATCHES)
        say(f"vtg train spikingvtg (1 epoch of {batches} batches) -> {STUDENT}")
        summary = run_json(
            [tool("vtg"), "train", "--config", str(STUDENT_CONFIG), "--data", str(data), "--out", str(STUDENT),
             "--epochs", "1", "--limit-train-batches", batches, "--limit-val-batches", "2", "--json"],
            log=WORK / "student_train.log",
        )  # fmt: skip
        checkpoint = Path(summary["checkpoints"]["last"])
    return checkpoint


def lava_bundle(quick: bool = False) -> Path:
    """``vtg-export --target lava`` of :func:`student_checkpoint` into runs/bench/bundle."""
    if not (BUNDLE / "manifest.json").is_file():
        checkpoint = student_checkpoint(quick)
        say(f"vtg-export --target lava -> {BUNDLE}")
        done = subprocess.run(
            [tool("vtg-export"), "--target", "lava", "--checkpoint", str(checkpoint), "--out", str(BUNDLE)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"vtg-export failed ({done.returncode}): {done.stderr[-2000:]}")
    return BUNDLE
