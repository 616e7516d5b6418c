"""``vtg data``: write the synthetic dataset, convert public annotations, describe a dataset folder.

::

    vtg data synth --out DIR [--seed N] [--preset tiny|demo|qvhighlights] [--levels K] [--train N] [--val N]
                   [--pretrain N]
    vtg data convert --dataset charades|tacos|youtube --input FILE [--durations FILE] --out FILE.jsonl
                     [--clip-len S] [--first-qid N]
    vtg data info --root DIR [--split val]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vtg.errors import UserError, check_seed
from vtg.json_file import to_json

# options each action cannot do without (checked in run: one flat parser lets --config set every option)
REQUIRED = {"synth": ("out",), "convert": ("dataset", "input", "out"), "info": ("root",)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The action (``synth``, ``convert`` or ``info``) and the options of each."""
    from vtg.data.converters import CONVERTERS
    from vtg.data.synth import PRESETS

    parser.add_argument("action", choices=list(REQUIRED), help="what to do")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    synth = parser.add_argument_group("synth: write the built-in synthetic dataset")
    synth.add_argument("--out", type=Path, help="synth: dataset folder to write; convert: jsonl file to write")
    synth.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes; default 0)")
    synth.add_argument("--preset", default="demo", help=f"size: {', '.join(PRESETS)} (default demo)")
    synth.add_argument("--levels", type=int, help="number of backbone levels K (overrides the preset)")
    synth.add_argument("--train", type=int, help="number of training queries (overrides the preset)")
    synth.add_argument("--val", type=int, help="number of validation queries (overrides the preset)")
    synth.add_argument(
        "--pretrain", type=int, default=0, help="queries of a 'pretrain' split, a teacher's pre-training corpus"
    )
    synth.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    convert = parser.add_argument_group("convert: public annotations to QVHighlights jsonl")
    convert.add_argument("--dataset", help=f"source format: {', '.join(CONVERTERS)}")
    convert.add_argument("--input", type=Path, help="the annotation file as distributed")
    convert.add_argument("--durations", type=Path, help="charades: charades.json (default: beside --input)")
    convert.add_argument("--clip-len", type=float, default=2.0, help="youtube: seconds per labelled clip")
    convert.add_argument(
        "--first-qid",
        type=int,
        default=0,
        help="the first query id (default 0); give each split of one folder its own range, as they share qid*.npz",
    )
    info = parser.add_argument_group("info: check a dataset folder and print its sizes and dims")
    info.add_argument("--root", type=Path, help="dataset folder (with dataset.yaml)")
    info.add_argument("--split", help="split to read (default: every split)")


def run(args: argparse.Namespace) -> int:
    """Check the chosen action's required options, then run it."""
    for name in REQUIRED[args.action]:
        if getattr(args, name) is None:
            raise UserError(f"option --{name.replace('_', '-')}: required by 'vtg data {args.action}'")
    return {"synth": run_synth, "convert": run_convert, "info": run_info}[args.action](args)


def report(summary: dict, as_json: bool, lines: list[str]) -> int:
    """Print ``summary`` as JSON, or ``lines`` for people."""
    print(to_json(summary) if as_json else "\n".join(lines))
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """``vtg data synth``."""
    from vtg.atomic import check_output
    from vtg.data.synth import write_synthetic

    check_seed(args.seed, "option --seed")
    check_output(args.out, "folder")
    if args.out.is_dir() and any(args.out.iterdir()) and not args.force:
        raise UserError(f"{args.out}: option --out: folder is not empty (use --force to overwrite)")
    summary = write_synthetic(args.out, args.seed, args.preset, args.levels, args.train, args.val, args.pretrain)
    queries, levels = summary["queries"], summary["video_levels"]
    video_shape = f"(T, {levels}, {summary['video_dim']})" if levels > 1 else f"(T, {summary['video_dim']})"
    text_shape = f"({levels}, L, {summary['text_dim']})" if levels > 1 else f"(L, {summary['text_dim']})"
    return report(
        summary,
        args.json,
        [
            f"wrote {args.out} (preset {args.preset}, seed {args.seed}, {summary['bytes'] / 1e6:.1f} MB):",
            "  " + ", ".join(f"{split}.jsonl {count} queries" for split, count in queries.items()) + ", dataset.yaml",
            f"  video features {video_shape} in {', '.join(summary['video_feature_dirs'])}/, "
            f"text features {text_shape} in {summary['text_feature_dir']}/, clips of {summary['clip_len']} s",
        ],
    )


def run_convert(args: argparse.Namespace) -> int:
    """``vtg data convert``."""
    from vtg.atomic import check_output
    from vtg.data.converters import convert
    from vtg.data.converters.charades import DURATIONS_FILE

    inputs = {"--input": args.input, "--durations": args.durations}
    if args.durations is None and args.dataset == "charades":  # then read beside the input
        inputs[f"--durations (by default {DURATIONS_FILE} beside --input)"] = Path(args.input).with_name(DURATIONS_FILE)
    check_output(args.out, "file", inputs=inputs)
    summary = convert(
        args.dataset, args.input, args.out, durations=args.durations, clip_len=args.clip_len, first_qid=args.first_qid
    )
    first, last = summary["qids"]
    queries, videos = summary["queries"], summary["videos"]
    lines = [f"wrote {args.out}: {queries} queries on {videos} videos ({args.dataset}), qid {first}-{last}"]
    if summary["clamped"]:
        lines.append(f"  {summary['clamped']} windows ending after their video were cut at the video's end")
    if summary["skipped"]:
        lines.append(f"  {summary['skipped']} videos without a highlight clip were left out")
    return report(summary, args.json, lines)


def run_info(args: argparse.Namespace) -> int:
    """``vtg data info``: load every query of the split(s), which checks every file, and print sizes."""
    from tqdm import tqdm

    from vtg.data.annotations import Annotation
    from vtg.data.dataset import VTGDataset
    from vtg.data.dataset_config import load_dataset_config

    config = load_dataset_config(args.root)
    splits = [args.split] if args.split else list(config.splits)
    summary = {"root": str(args.root), "clip_len": config.clip_len, "splits": {}}
    queries_by_qid: dict[str, Annotation] = {}  # str(qid) -> the first annotation with it, over the splits read
    first: VTGDataset | None = None  # the first split read: every other has its dims
    for split in splits:
        dataset = VTGDataset(args.root, split, require_labels=False)  # a test split has no windows
        for annotation in dataset.annotations:  # the splits share the text features, one qid{qid}.npz per query
            other = queries_by_qid.setdefault(str(annotation.qid), annotation)
            if other.query != annotation.query:
                raise UserError(
                    f"{annotation.location}: field 'qid': {annotation.qid!r} is also '{other.query}' at "
                    f"{other.location}, and both would read {config.text_feature_dir.name}/qid{annotation.qid}.npz "
                    "(vtg data convert --first-qid gives each split its own ids)"
                )
        clips = []
        # a context manager, so that an error line starts on a fresh line after the bar
        with tqdm(total=len(dataset), desc=f"reading {split}", unit="query", file=sys.stderr) as bar:
            for i in range(len(dataset)):
                clips.append(dataset[i]["video"].shape[0])
                bar.update()
        labelled = all(annotation.windows for annotation in dataset.annotations)
        summary["splits"][split] = {"queries": len(dataset), "max_clips": max(clips), "labelled": labelled}
        first = first or dataset
        dataset.check_same_dims(first)  # vtg train would refuse the folder
        summary.update(dataset.dims)
    lines = [f"{args.root}: clips of {config.clip_len} s"]
    lines += [
        f"  {split}: {v['queries']} queries, up to {v['max_clips']} clips" for split, v in summary["splits"].items()
    ]
    lines.append(
        f"  video_dim {summary['video_dim']} x {summary['video_levels']} levels, "
        f"text_dim {summary['text_dim']} x {summary['text_levels']} levels"
    )
    return report(summary, args.json, lines)
