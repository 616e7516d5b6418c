"""``make demo``: the whole job on the built-in synthetic dataset, step by step, as a user would run it.

    python -m vtg.demo --out runs/demo [--seeds 0 [1 2 ...]] [--fresh] [--quick]

Steps (each one a ``vtg``/``vtg-export`` command, printed before it runs):

1. ``vtg data synth``              the synthetic dataset (200 train, 1000 val, 3200 pretrain queries, K = 3)
2. ``vtg train --model sdst``      SDST, the non-spiking comparison model
3. ``vtg train --model univtg``    the UniVTG-style teacher, pre-trained on the pretrain split
4. ``vtg distill``                 CLRM transfer from it to the 1-bit NF SpikingVTG (a CLRM stage on the
                                   unlabelled pretrain split, then the 200 labelled queries), plus a
                                   label-only student of the same budget, for training seed 0 (``--seeds
                                   0 1 2``: one pair per seed, side by side, and their means)
5. ``vtg predict``                 val predictions and official metrics of SDST, teacher and student;
   ``vtg equilibrium``             the student's convergence and its train/deploy gap over Tc
6. ``vtg-export --target lava``    the Lava bundle of the student
7. ``vtg simulate``                fixed-point Loihi-style simulation with the spike-for-spike check
8. ``vtg energy report``           energy-accuracy trade-off over Tc, with plots: the teacher is the
                                   reference, SDST beside it

It writes ``OUT/summary.json`` and ``OUT/report.html``. A step whose output a run of the same command made
is reused, so a second run only redoes what is missing; a step whose command changed (other ``--seeds``,
``--quick`` or not) runs again, and so does every step after one that ran (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from vtg.config import preset
from vtg.json_file import to_json
from vtg.scripts import CommandFailed, run_json, tool

TC_SWEEP = "1,2,4,8,16"
# The distillation setting of the paper (Sec. 4.5.1): a teacher pre-trained on far more data than the task's
# labels. The demo's task has 200 labelled train queries (the demo preset has 800) and the teacher 3200
# pre-training queries of the same synthetic world (vtg data synth --pretrain; --quick: 200), which the
# distilled student's CLRM stage also reads, without their labels (configs/distill_demo.yaml). The 1000 val
# queries make a 1-point difference 10 queries (training validates on the first 200 of them each epoch).
TRAIN_QUERIES, VAL_QUERIES, PRETRAIN_QUERIES = 200, 1000, 3200
EPOCH_VALIDATION = ["--limit-val-batches", "13"]  # 13 batches of 16: the first 200 val queries
# the students are compared on all val queries after training: their epoch validation only shows progress
STUDENT_EPOCH_VALIDATION = ["--limit-val-batches", "4"]
# make demo trains one pair of students, the whole job once in 20 minutes on 2 cores; the statistics over
# training seeds (--seeds 0 1 2, as the distillation benchmarks run it) take three pairs, ten more minutes
DEMO_SEEDS = (0,)
COMPARISON_SEEDS = (0, 1, 2)
LAVA_QUERIES = 200  # simulated in Lava and priced over Tc (--quick: 20)
MODELS = {  # the non-spiking models: config preset and vtg train options
    # 32 epochs of 13 steps (416) on the demo's 200 labelled queries (configs/sdst_demo.yaml itself trains 24
    # epochs, 1200 steps, on the demo preset's 800)
    "sdst": ("sdst_demo.yaml", ["--epochs", "32"]),
    # pre-trained on the 3200 queries of the pretrain split, as the paper's UniVTG teacher is pre-trained on far
    # more than the downstream labels; 4 epochs (800 steps)
    "teacher": ("univtg_demo.yaml", ["--train-split", "pretrain", "--epochs", "4"]),
}


class Demo:
    """Runs the steps, skipping those already done with the same command, and keeps each step's JSON answer."""

    def __init__(self, out: Path, quick: bool, data_seed: int = 0, seeds: tuple[int, ...] = DEMO_SEEDS):
        self.out = out
        self.quick = quick
        self.data_seed = data_seed  # the synthetic world (vtg data synth --seed)
        self.seeds = seeds[:1] if quick else seeds  # the students' training seeds (vtg distill --seeds)
        self.data = out / "data"
        self.timings: dict[str, float] = {}
        self.ran: str | None = None  # the first step this invocation ran: every later one reads what it made
        self.passed: list[str] = []  # the steps met so far in this invocation, in order

    def step(
        self, name: str, output: Path, command: list[str], stale: Callable[[dict[str, Any]], str | None] | None = None
    ) -> dict[str, Any]:
        """Run ``command`` unless a run of the same command made ``output``; return its ``--json`` answer (cached
        beside the run with the command).

        A step runs again when its command changed (other seeds, --quick or not), when an earlier step ran in
        this invocation (its outputs are what this step reads), or when ``stale(answer)`` says why the cached
        answer does not fit (an older format); else None.
        """
        steps = self.out / "steps"
        answer_file, command_file = steps / f"{name}.json", steps / f"{name}.command.json"
        self.passed.append(name)
        if output.exists() and answer_file.is_file():
            answer = json.loads(answer_file.read_text())
            same = command_file.is_file() and json.loads(command_file.read_text()) == command
            if self.ran is not None:
                reason: str | None = f"{self.ran} ran again"
            elif not command_file.is_file():
                reason = "no record of its command (an older demo, or one stopped after an earlier step ran)"
            elif not same:
                reason = "its command changed"
            else:
                reason = stale(answer) if stale is not None else None
            if reason is None:
                print(f"[demo] {name}: reusing {output.relative_to(self.out.parent)}", flush=True)
                return answer
            print(f"[demo] {name}: {reason}, running it again", flush=True)
        print(f"[demo] {name}: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(command))}", flush=True)
        # the later steps' records go first: stopped before they run again, the next invocation reruns them
        for record in steps.glob("*.command.json"):
            if record.name.removesuffix(".command.json") not in self.passed:
                record.unlink()
        start = time.perf_counter()
        try:
            answer = run_json(command)
        except CommandFailed as failure:
            sys.exit(f"[demo] {name} failed with exit status {failure.returncode}")
        self.timings[name] = round(time.perf_counter() - start, 1)
        self.ran = self.ran or name
        answer_file.parent.mkdir(parents=True, exist_ok=True)
        answer_file.write_text(to_json(answer, indent=2))
        command_file.write_text(to_json(command))
        print(f"[demo] {name}: done in {self.timings[name]} s", flush=True)
        return answer

    def make_data(self) -> None:
        """Step 1: the synthetic dataset of world ``data_seed`` (200 train, 1000 val, 3200 pretrain queries)."""
        pretrain = str(200 if self.quick else PRETRAIN_QUERIES)
        command = [tool("vtg"), "data", "synth", "--out", str(self.data), "--seed", str(self.data_seed)]
        command += ["--preset", "demo", "--train", str(TRAIN_QUERIES), "--val", str(VAL_QUERIES)]
        self.step("data", self.data / "dataset.yaml", command + ["--pretrain", pretrain, "--force", "--json"])

    def train(self, name: str) -> Path:
        """Step 2 or 3: ``sdst`` or ``teacher`` (:data:`MODELS`) trained; returns its best checkpoint."""
        config, options = MODELS[name]
        folder = self.out / name
        command = [tool("vtg"), "train", "--config", str(preset(config)), "--data", str(self.data)]
        command += ["--out", str(folder), "--json", *options, *EPOCH_VALIDATION]
        self.step(name, folder / "best.ckpt", command + (["--epochs", "2"] if self.quick else []))
        return folder / "best.ckpt"

    def distil(self, teacher: Path) -> dict[str, Any]:
        """Step 4: the distilled and label-only students of every seed from the ``teacher`` checkpoint;
        ``vtg distill``'s answer, whose ``comparison`` names the comparison's files."""
        distill_config = preset("distill_demo.yaml")
        # --quick: the CLRM epochs of configs/distill_demo.yaml (on the 200-query pretrain split) and one task epoch
        quick_epochs = str(yaml.safe_load(distill_config.read_text())["distill"]["clrm_epochs"] + 1)
        command = [tool("vtg"), "distill", "--teacher", str(teacher), "--config", str(distill_config)]
        command += ["--data", str(self.data), "--out", str(self.out / "student"), "--compare"]
        seeds = [str(seed) for seed in self.seeds]
        command += ["--seeds", *seeds]
        # several seeds' students side by side, one process and one thread each: on 2 cores three 1-thread
        # processes train more steps than one 2-thread process (vtg distill --jobs)
        command += ["--jobs", str(len(seeds))] if len(seeds) > 1 else []
        command += ["--json", *STUDENT_EPOCH_VALIDATION, *(["--epochs", quick_epochs] if self.quick else [])]
        return self.step("distill", self.out / "student" / "comparison.json", command)

    def run(self) -> dict[str, Any]:
        vtg, data = tool("vtg"), str(self.data)
        self.make_data()
        sdst_ckpt, teacher_ckpt = self.train("sdst"), self.train("teacher")
        distill = self.distil(teacher_ckpt)
        # the first seed's student goes on to predictions, Lava and energy
        student_ckpt = Path(distill["comparison_metrics"]["distilled"]["runs"][0]["checkpoint"])
        predicted = {}
        for name, checkpoint in (
            ("sdst", sdst_ckpt),
            ("teacher", teacher_ckpt),
            ("student", student_ckpt),
        ):
            predictions = self.out / f"{name}_val_preds.jsonl"
            command = [vtg, "predict", "--checkpoint", str(checkpoint), "--data", data, "--split", "val"]
            predicted[name] = self.step(f"predict_{name}", predictions, command + ["--out", str(predictions), "--json"])
        # how far the student's Tc-8 simulation is from the steady state it was trained on (paper Fig. 3a), on every
        # val query: its simulated reading at Tc 8 is then the student's reported metrics, and a 2-point gap is 20
        # queries (on 200, one query is half a point and the two readings' difference is mostly sampling)
        equilibrium = self.step(
            "equilibrium",
            self.out / "equilibrium" / "equilibrium.json",
            [vtg, "equilibrium", "--checkpoint", str(student_ckpt), "--data", data, "--tc-max", "16"]
            + (["--limit", "20"] if self.quick else [])
            + ["--out", str(self.out / "equilibrium"), "--json"],
            stale=format_is("vtg-equilibrium/2"),  # the version whose per-layer "rounding" the summary reads
        )
        bundle = self.out / "bundle"
        self.step(
            "export",
            bundle / "manifest.json",
            [tool("vtg-export"), "--target", "lava", "--checkpoint", str(student_ckpt), "--out", str(bundle), "--json"],
        )
        # the same student as an ONNX step model (the export checks it against PyTorch with onnxruntime, spikes
        # exact, and writes nothing if it disagrees)
        step_model = self.out / "onnx" / "student.onnx"
        onnx_export = self.step(
            "export_onnx",
            step_model,
            [
                tool("vtg-export"),
                "--target",
                "onnx",
                "--checkpoint",
                str(student_ckpt),
                "--out",
                str(step_model),
                "--json",
            ],
        )
        limit = ["--limit", "20" if self.quick else str(LAVA_QUERIES)]
        lava = self.step(
            "simulate",
            self.out / "lava" / "predictions.jsonl",
            [
                vtg,
                "simulate",
                "--bundle",
                str(bundle),
                "--data",
                data,
                "--split",
                "val",
                "--precision",
                "fixed",
                "--compare-torch",
                "--out",
                str(self.out / "lava"),
                "--json",
                *limit,
            ],
        )
        energy = self.step(
            "energy",
            self.out / "energy" / "report.json",
            [
                vtg,
                "energy",
                "report",
                "--checkpoint",
                str(student_ckpt),
                # the reference is the teacher the student distils from (what a user would otherwise
                # deploy); SDST, the comparison model, is drawn beside it
                "--teacher",
                str(teacher_ckpt),
                "--beside",
                str(sdst_ckpt),
                "--data",
                data,
                "--split",
                "val",
                "--tc",
                TC_SWEEP,
                "--out",
                str(self.out / "energy"),
                "--json",
                *limit,
            ],
        )
        comparison = json.loads(Path(distill["comparison"]["json"]).read_text())
        summary = {
            "sdst": predicted["sdst"]["metrics"],
            "teacher": predicted["teacher"]["metrics"],
            "student": predicted["student"]["metrics"],
            "distillation": comparison,
            "lava": lava,
            "onnx": onnx_export["out"],
            "energy": [
                {
                    "tc": point["tc"],
                    "energy_mj": point["total_mj"],
                    "efficiency": point["efficiency"],
                    "metrics": point["metrics"],
                }
                for point in energy["points"]
            ],
            "equilibrium": {
                "train_tc": equilibrium["train_tc"],
                **{  # per layer, at the training Tc: the residual and the output neurons' own rounding in it
                    f"{series}_at_train_tc": [
                        layer[series][equilibrium["train_tc"] - 1] for layer in equilibrium["layers"]
                    ]
                    for series in ("residual", "rounding")
                },
                "metrics_at_train_tc": equilibrium["metrics"][str(equilibrium["train_tc"])],
            },
            "energy_reference": energy["reference"],
            "energy_beside": energy["beside"],
            "energy_files": energy["files"],
            "timings_s": self.timings,
        }
        (self.out / "summary.json").write_text(to_json(summary, indent=2))
        write_report(self.out, summary)
        return summary


def format_is(expected: str) -> Callable[[dict[str, Any]], str | None]:
    """A step's ``stale`` test: the cached answer is stale unless its ``format`` is ``expected``."""

    def stale(answer: dict[str, Any]) -> str | None:
        found = answer.get("format")
        return None if found == expected else f"the cached answer is {found}, not {expected}"

    return stale


def metrics_table(rows: dict[str, dict[str, float]], keys: list[str]) -> str:
    """An HTML table: one row per model, one column per metric key."""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = ""
    for name, metrics in rows.items():
        cells = "".join(f"<td>{metrics.get(k, float('nan')):.2f}</td>" for k in keys)
        body += f"<tr><td>{html.escape(name)}</td>{cells}</tr>"
    return f"<table><tr><th>model</th>{head}</tr>{body}</table>"


def _ratio(value: float | None) -> str:
    """E_f to one decimal; '-' where the student spent no energy (no ratio)."""
    return "-" if value is None else f"{value:.1f}"


def energy_table(points: list[dict[str, Any]]) -> str:
    """An HTML table: one row per Tc with the student's energy, E_f and two headline metrics."""
    rows = "".join(
        f"<tr><td>{p['tc']}</td><td>{p['energy_mj']:.4g}</td><td>{_ratio(p['efficiency'])}</td>"
        f"<td>{p['metrics'].get('MR-full-R1@0.5', float('nan')):.2f}</td>"
        f"<td>{p['metrics'].get('HL-min-VeryGood-Hit1', float('nan')):.2f}</td></tr>"
        for p in points
    )
    columns = ("Tc", "energy (mJ/query)", "E_f", "MR-full-R1@0.5", "HL-min-VeryGood-Hit1")
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    return f"<table>{head}{rows}</table>"


def equilibrium_line(equilibrium: dict[str, Any]) -> str:
    """One sentence: the residual per layer (and the output neurons' own rounding in it) and both readings of
    the headline metrics at the training Tc."""
    tc, metrics = equilibrium["train_tc"], equilibrium["metrics_at_train_tc"]
    residuals = ", ".join(
        f"{r:.2f} (own rounding {o:.2f})"
        for r, o in zip(equilibrium["residual_at_train_tc"], equilibrium["rounding_at_train_tc"])
    )
    readings = "; ".join(
        f"{name} {metrics['simulated'][name]:.1f} simulated, {metrics['steady_state'][name]:.1f} from the map"
        for name in ("MR-full-R1@0.5", "HL-min-VeryGood-Hit1")
    )
    return (
        f"At Tc = {tc} (vtg equilibrium): relative residual to the steady-state map per layer {residuals}; {readings}."
    )


def write_report(out: Path, summary: dict[str, Any]) -> None:
    """``report.html``: metrics of the models, the Lava check, and the energy plots."""
    keys = ["MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1"]
    lava, reference = summary["lava"], summary["energy_reference"]
    beside = (
        ", ".join(f"{html.escape(other['name'])} {other['total_mj']:.4g} mJ" for other in summary["energy_beside"])
        or "none"
    )
    rows = {"SDST (comparison model)": summary["sdst"], "UniVTG-style teacher": summary["teacher"]}
    comparison = summary["distillation"]  # both students of the same budget, means over the seeds
    seeds = comparison["seeds"]
    which = f"mean of seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else f"seed {seeds[0]}"
    for role, label in (("distilled", "CLRM-distilled"), ("label_only", "labels only")):
        exported = ", the exported student" if role == "distilled" and len(seeds) == 1 else ""
        rows[f"1-bit NF SpikingVTG, {label} ({which}{exported})"] = comparison["models"][role]["metrics"]
    if len(seeds) > 1:
        rows["1-bit NF SpikingVTG, CLRM-distilled, the exported seed"] = summary["student"]
    plots = sorted((out / "energy").glob("*.png"))
    images = "".join(
        f'<figure><img src="energy/{p.name}" width="560"><figcaption>{p.stem}</figcaption></figure>' for p in plots
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>SpikingVTG demo</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{padding:4px 8px;border:1px solid #ccc}}
table{{border-collapse:collapse}}figure{{display:inline-block}}</style></head><body>
<h1>SpikingVTG demo on the synthetic dataset</h1>
<h2>Validation metrics (official QVHighlights definitions)</h2>
{metrics_table(rows, keys)}
<figure><img src="student/comparison.png" width="700"></figure>
<h2>Does the simulation reach the steady state it was trained on?</h2>
<p>{equilibrium_line(summary["equilibrium"])}</p>
<figure><img src="equilibrium/equilibrium.png" width="900"></figure>
<h2>Loihi-style Lava simulation (fixed point)</h2>
<p>{lava["queries"]} val queries, <b>{lava["spike_mismatches"]} spike mismatches</b> against the PyTorch integer
reference, {lava["queries_per_s"]:.2f} queries/s. The same student as an ONNX step model (one call per
timestep, its state explicit): {html.escape(summary["onnx"])}, checked against PyTorch with onnxruntime.</p>
<h2>Energy-accuracy trade-off over Tc</h2>
<p>Reference: the teacher the student distils from ({html.escape(reference["name"])}),
{reference["total_mj"]:.4g} mJ per query (FP-MAC at 45 nm); beside it (dotted): {beside}.
Student energy: spike-triggered accumulations (|s| x fan-out, INT-ACC) plus its remaining floating-point work.</p>
{energy_table(summary["energy"])}
{images}
<p>Raw numbers: <a href="summary.json">summary.json</a>, <a href="energy/report.json">energy/report.json</a>.</p>
</body></html>"""
    (out / "report.html").write_text(page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vtg.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--fresh", action="store_true", help="delete OUT first and redo every step")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEMO_SEEDS),
        metavar="SEED",
        help="the students' training seeds: one distilled and one label-only student each, compared as means "
        "(default: 0; the first seed's student is exported)",
    )
    parser.add_argument("--quick", action="store_true", help="2 epochs and 20 val queries (a smoke run)")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < len(args.seeds) or min(args.seeds) < 0:
        parser.error(f"option --seeds: expected distinct non-negative seeds, got {' '.join(map(str, args.seeds))}")
    out = args.out.resolve()
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summary = Demo(out, args.quick, seeds=tuple(args.seeds)).run()
    print(f"[demo] finished in {time.perf_counter() - start:.0f} s: {out / 'summary.json'}, {out / 'report.html'}")
    print(f"[demo] Lava: {summary['lava']['queries']} queries, {summary['lava']['spike_mismatches']} spike mismatches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
