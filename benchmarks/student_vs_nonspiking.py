"""The spiking students against a non-spiking model of the same shape, on the same labels and budget.

    python -m benchmarks.student_vs_nonspiking [--quick]

For each data seed S (0, 1, 2; ``--quick``: 0 only, fewer epochs) the demo preset's data
(``vtg data synth --preset demo --seed S``: 800 train, 200 val queries) trains, label-only and with
training seed S:

* the UniVTG-style model (configs/univtg_demo.yaml's losses, learning rate :data:`REFERENCE_LR`) and
* the SpikingVTG students base, NF and 1-bit NF (configs/spikingvtg_demo.yaml, variant switched: UniVTG's
  first input layer on the host, three-convolution decoders), each also with rate-driven currents
  (``model.rate_driven``), and the 1-bit NF student without the host input layer and with two-convolution
  decoders, the demo preset before them (:data:`STUDENTS`),

all at the same hidden size, depth, heads, feed-forward size, batch and epochs (:data:`SHAPE`,
:data:`EPOCHS`). Every model is scored on the val split from its last checkpoint (never the best one:
choosing an epoch on the split that is reported would flatter it); each student also at Tc = 1, 2, 4,
8 and 16. The val split scored is the same world's drawn to :data:`SCORE_QUERIES` queries (``--val``): its train
split is the training folder's, byte for byte, and its first 200 val queries are the training folder's val split.
On 200 queries one query moves a metric by half a point, more than some of the gaps the ratios are read
against. The result: per seed and model the official metrics, their means, each student's ratio to the
UniVTG-style model (MR-full-R1@0.5 and HL-min-VeryGood-Hit1), and the fraction of its training-Tc
metrics it keeps at Tc/2 and at Tc = 2. benchmarks/results/student_vs_nonspiking.{json,md,png}.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import HEADLINES, ROOT, WORK, machine_info, quick_main, run_json, tool, train_once, write_report

NAME = "student_vs_nonspiking"
SEEDS = (0, 1, 2)
SHAPE = {"hidden_dim": 64, "num_layers": 2, "num_heads": 2, "ffn_dim": 64}
EPOCHS = 20
BATCH_SIZE = 16
TCS = (1, 2, 4, 8, 16)
# student -> its switches over configs/spikingvtg_demo.yaml's model section
STUDENTS: dict[str, dict[str, Any]] = {
    "base": {"variant": "base"},
    "nf": {"variant": "nf"},
    "1bit_nf": {"variant": "1bit_nf"},
    # without UniVTG's first input layer on the host (model.input_mlp) and with two-convolution decoders: README
    # docs/STUDENT_FIDELITY.md measured that the students' boundary regression barely learns so
    "1bit_nf_no_host_input": {"variant": "1bit_nf", "input_mlp": False, "f_layers": 2, "d_layers": 2},
    # rate-driven input and intermediate currents (model.rate_driven): the simulation's currents have the map's
    # running means (docs/STUDENT_FIDELITY.md)
    **{f"{variant}_rate_driven": {"variant": variant, "rate_driven": True} for variant in ("base", "nf", "1bit_nf")},
}
# students trained otherwise than the preset (lr 6e-3, no warm-up; chosen for the 1-bit NF preset on data seed 5,
# which no row here uses: training seeds 0-2, 1000 val queries, Tc 8 MR-full-R1@0.5 73.6 at 6e-3 against 68.5 at
# 3e-3; docs/STUDENT_FIDELITY.md). NF diverged there at 6e-3 (seed 0: 49.5 against 75.5 at 3e-3, 200 val queries)
# and read less at 4.5e-3 and 2e-3; with the rate reached by a linear warm-up over its first 100 steps it reads
# Tc 8 / 4 / 2 75.7 / 74.9 / 73.0 against 70.8 / 70.8 / 62.9 at 3e-3 (every seed gains; Hit1 51.9 against 50.6 at
# Tc 8), so the NF students get it. The ablation row without the host input layer was measured at 3e-3 before
# the change and is kept as it was
NF_TRAIN = {"lr": 0.006, "warmup_steps": 100}
STUDENT_TRAIN: dict[str, dict[str, Any]] = {
    "nf": NF_TRAIN,
    "nf_rate_driven": NF_TRAIN,
    "1bit_nf_no_host_input": {"lr": 0.003},
}
# the UniVTG-style model's learning rate at this shape: its demo preset's 3e-4 (chosen at D 128, 4 layers)
# leaves it far from what it can do here. On data seed 0 (val, 20 epochs): 3e-4 47.5, 1e-3 64.0, 3e-3 80.5
# MR-full-R1@0.5 (Hit1 48.0, 50.0 at the last two), so it gets 3e-3; chosen on seed 0's val split, which
# seeds 1 and 2 do not share. On data seed 5 6e-3 diverges (13.5 on training seeds 0 and 1, against 67.5
# and 78.5 at 3e-3, 200 val queries)
REFERENCE_LR = 0.003
# val queries every model is scored on (the preset draws 200, which training validates on)
SCORE_QUERIES = 1000
REFERENCE = "univtg"
OUT = WORK / NAME


def say(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def synth_data(folder: Path, seed: int, *options: str) -> Path:
    """``vtg data synth --preset demo --seed S [options]`` into ``folder`` (built once, under runs/bench)."""
    if not (folder / "dataset.yaml").is_file():
        command = ["data", "synth", "--preset", "demo", "--seed", str(seed), *options]
        say("vtg " + " ".join(command))
        run_json([tool("vtg"), *command, "--out", str(folder), "--force", "--json"])
    return folder


def seed_data(seed: int) -> Path:
    """The demo preset's data for ``seed``."""
    return synth_data(WORK / f"data_seed{seed}", seed)


def score_data(seed: int, train_data: Path) -> Path:
    """The world of ``seed``'s demo data with its val split drawn to :data:`SCORE_QUERIES` queries; its train
    split must be ``train_data``'s, so that the scores are of models trained on that world's labels."""
    folder = synth_data(WORK / f"data_seed{seed}_val{SCORE_QUERIES}", seed, "--val", str(SCORE_QUERIES))
    if (folder / "train.jsonl").read_bytes() != (train_data / "train.jsonl").read_bytes():
        raise RuntimeError(f"{folder}: its train split differs from {train_data}'s; delete it to rebuild it")
    return folder


def model_config(model: str, seed: int, epochs: int) -> dict[str, Any]:
    """The config of one run: the model's demo preset with the shared shape, batch, epochs and seed."""
    preset = "univtg_demo.yaml" if model == REFERENCE else "spikingvtg_demo.yaml"
    config = yaml.safe_load((ROOT / "configs" / preset).read_text())
    config["model"].update(SHAPE)
    if model != REFERENCE:
        config["model"].update(STUDENTS[model])
        config["train"].update(STUDENT_TRAIN.get(model, {}))
    else:
        config["train"]["lr"] = REFERENCE_LR
    config["train"].update({"epochs": epochs, "batch_size": BATCH_SIZE, "seed": seed})
    return config


def train(model: str, seed: int, epochs: int, data: Path) -> Path:
    """Train one model (skipped when its last checkpoint is there for the same config); return the checkpoint."""
    config = model_config(model, seed, epochs)
    out = OUT / f"seed{seed}"
    return train_once(config, out / f"{model}.yaml", out / model, data, say, f"{model} for seed {seed}")


def score(checkpoint: Path, data: Path, tc: int | None) -> dict[str, float]:
    """``vtg predict`` on the val split (at ``tc`` for a student); the official metrics."""
    command = [tool("vtg"), "predict", "--checkpoint", str(checkpoint), "--data", str(data), "--split", "val",
               "--out", str(checkpoint.parent / f"val_tc{tc}.jsonl"), "--json"]  # fmt: skip
    if tc is not None:
        command += ["--tc", str(tc)]
    return run_json(command, log=checkpoint.parent / "predict.log")["metrics"]


def share(part: float, whole: float) -> float | None:
    """part / whole, or None where whole is 0 (a model that scored 0 keeps no share of anything)."""
    return part / whole if whole else None


def _two(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def summarise(runs: dict[int, dict[str, Any]], train_tc: int) -> dict[str, Any]:
    """Means over seeds, ratios to the reference, and what each student keeps at Tc/2 and Tc = 2."""

    def mean(values: list[float]) -> float:
        return statistics.fmean(values)

    summary: dict[str, Any] = {REFERENCE: {m: mean([r[REFERENCE][m] for r in runs.values()]) for m in HEADLINES}}
    for student in STUDENTS:
        # keyed by str(Tc), as the JSON file has them
        by_tc = {str(tc): {m: mean([r[student][str(tc)][m] for r in runs.values()]) for m in HEADLINES} for tc in TCS}
        trained = by_tc[str(train_tc)]
        summary[student] = {
            "by_tc": by_tc,
            "ratio_to_reference": {m: share(trained[m], summary[REFERENCE][m]) for m in HEADLINES},
            "kept_at_half_tc": {m: share(by_tc[str(train_tc // 2)][m], trained[m]) for m in HEADLINES},
            "kept_at_tc2": {m: share(by_tc["2"][m], trained[m]) for m in HEADLINES},
        }
    return summary


def run(quick: bool = False) -> dict[str, Any]:
    seeds = SEEDS[:1] if quick else SEEDS
    epochs = 4 if quick else EPOCHS
    train_tc = int(model_config("1bit_nf", 0, epochs)["model"]["tc"])
    runs: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        data = seed_data(seed)
        scored = score_data(seed, data)
        runs[seed] = {REFERENCE: score(train(REFERENCE, seed, epochs, data), scored, None)}
        for student in STUDENTS:
            checkpoint = train(student, seed, epochs, data)
            runs[seed][student] = {str(tc): score(checkpoint, scored, tc) for tc in TCS}
            say(f"seed {seed}: {student} at Tc {train_tc}: "
                + ", ".join(f"{m} {runs[seed][student][str(train_tc)][m]:.1f}" for m in HEADLINES))  # fmt: skip
    result = {
        "benchmark": NAME,
        "quick": quick,
        "machine": machine_info(),
        "method": (
            f"label-only training, {epochs} epochs, batch {BATCH_SIZE}, shape {SHAPE}, data and training seeds "
            f"{list(seeds)}; every model scored from its last checkpoint on val ({SCORE_QUERIES} queries of the "
            f"same world, the 200 it validated on first); students at Tc "
            f"{list(TCS)} (trained at Tc {train_tc})"
        ),
        "configs": {model: model_config(model, 0, epochs) for model in (REFERENCE, *STUDENTS)},
        "runs": {str(seed): value for seed, value in runs.items()},
        "summary": summarise(runs, train_tc),
        "train_tc": train_tc,
    }
    write_report(NAME, result, markdown, plot)
    return result


def markdown(result: dict[str, Any]) -> str:
    """The README's table: means over the seeds, ratios to the UniVTG-style model, Tc retention."""
    summary, tc = result["summary"], result["train_tc"]
    lines = [
        f"Same labels and budget: {result['method']}.",
        "",
        "| model | MR-full-R1@0.5 | HL-min-VeryGood-Hit1 | ratio R1@0.5 | ratio Hit1 | kept at Tc/2 (R1 / Hit1) "
        "| kept at Tc 2 (R1 / Hit1) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| UniVTG-style | {summary[REFERENCE][HEADLINES[0]]:.1f} | {summary[REFERENCE][HEADLINES[1]]:.1f} "
        "| 1 | 1 | | |",
    ]
    for student in STUDENTS:
        s = summary[student]
        trained = s["by_tc"][str(tc)]
        train = result["configs"][student]["train"]
        warmup = f", {train['warmup_steps']} warm-up steps" if train.get("warmup_steps") else ""
        lines.append(
            f"| {student} (Tc {tc}, lr {train['lr']:g}{warmup}) "
            f"| {trained[HEADLINES[0]]:.1f} | {trained[HEADLINES[1]]:.1f} "
            f"| {_two(s['ratio_to_reference'][HEADLINES[0]])} | {_two(s['ratio_to_reference'][HEADLINES[1]])} "
            f"| {_two(s['kept_at_half_tc'][HEADLINES[0]])} / {_two(s['kept_at_half_tc'][HEADLINES[1]])} "
            f"| {_two(s['kept_at_tc2'][HEADLINES[0]])} / {_two(s['kept_at_tc2'][HEADLINES[1]])} |"
        )
    lines += ["", "Each student's metrics over Tc (means over the seeds):", ""]
    lines.append("| model | " + " | ".join(f"Tc {t}" for t in TCS) + " |")
    lines.append("|---|" + "---:|" * len(TCS))
    for student in STUDENTS:
        by_tc = summary[student]["by_tc"]
        cells = [f"{by_tc[str(t)][HEADLINES[0]]:.1f} / {by_tc[str(t)][HEADLINES[1]]:.1f}" for t in TCS]
        lines.append(f"| {student} (R1@0.5 / Hit1) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    """Each headline metric over Tc for the students, the UniVTG-style model as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = result["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric in zip(axes, HEADLINES):
        for student in STUDENTS:
            ax.plot(TCS, [summary[student]["by_tc"][str(t)][metric] for t in TCS], marker="o", label=student)
        ax.axhline(summary[REFERENCE][metric], color="black", linestyle="--", label="UniVTG-style (same shape)")
        ax.axvline(result["train_tc"], color="grey", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="Tc at evaluation", ylabel=metric, title=metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def headline(result: dict[str, Any]) -> dict[str, Any]:
    return {student: result["summary"][student]["ratio_to_reference"] for student in STUDENTS}


def main(argv: list[str] | None = None) -> int:
    return quick_main(argv, __doc__, "seed 0 only, 4 epochs", run, headline)


if __name__ == "__main__":
    sys.exit(main())
