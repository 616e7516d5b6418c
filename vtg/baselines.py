"""The chance baseline of a split: random windows and random clip scores, scored with the official metrics.

For a query whose video has N = ceil(duration / clip_len) clips, with a seeded generator::

    windows:  for k = 1 .. max_windows: length l_k drawn from the prior's window lengths (in clips, the
              ``--prior`` split's relevant windows, the uniform 1..N when there is none), start s_k uniform in
              0 .. N - l_k; window [s_k, s_k + l_k] clip_len (clipped to the duration), score u_k ~ U(0, 1)
    saliency: one score per clip, i.i.d. U(0, 1)

The prior makes it an honest chance level for moment retrieval (windows of the dataset's lengths, placed
with no knowledge of the video or the query); i.i.d. clip scores make HIT@1 the share of clips that
qualify. Nothing is learnt from the features.

    python -m vtg.baselines --data DIR --split val --out preds.jsonl --seed 0    # prints the metrics
    vtg eval --submission preds.jsonl --gt DIR/val.jsonl                          # the same metrics
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vtg.data.annotations import Annotation, annotation_to_record, read_annotations
from vtg.data.dataset_config import load_dataset_config
from vtg.errors import UserError, check_seed
from vtg.json_file import to_json


def window_lengths(annotations: Sequence[Annotation], clip_len: float) -> np.ndarray:
    """The relevant windows' lengths in whole clips (at least 1) -> (W,) int."""
    lengths = [max(1, round((end - start) / clip_len)) for a in annotations for start, end in a.windows]
    return np.asarray(lengths, dtype=np.int64)


def random_prediction(
    annotation: Annotation, clip_len: float, lengths: np.ndarray, rng: np.random.Generator, max_windows: int
) -> dict[str, Any]:
    """One official prediction line of chance level for ``annotation`` (see the module docstring)."""
    num_clips = max(1, math.ceil(annotation.duration / clip_len - 1e-9))
    windows = []
    for _ in range(max_windows):
        length = int(rng.choice(lengths)) if len(lengths) else int(rng.integers(1, num_clips + 1))
        length = min(length, num_clips)
        start = int(rng.integers(0, num_clips - length + 1))
        end = min((start + length) * clip_len, annotation.duration)
        windows.append([start * clip_len, end, float(rng.random())])
    windows.sort(key=lambda window: -window[2])
    return {
        "qid": annotation.qid,
        "query": annotation.query,
        "vid": annotation.vid,
        "pred_relevant_windows": windows,
        "pred_saliency_scores": rng.random(num_clips).tolist(),
    }


def random_predictions(
    annotations: Sequence[Annotation],
    clip_len: float,
    prior: Sequence[Annotation] = (),
    seed: int = 0,
    max_windows: int = 10,
) -> list[dict[str, Any]]:
    """Chance-level predictions for every query of ``annotations``; window lengths follow ``prior``."""
    rng = np.random.default_rng(seed)
    lengths = window_lengths(prior, clip_len)
    return [random_prediction(annotation, clip_len, lengths, rng, max_windows) for annotation in annotations]


def main(argv: Sequence[str] | None = None) -> int:
    from vtg.atomic import check_output
    from vtg.data.jsonl import write_jsonl
    from vtg.evaluation import score_predictions

    parser = argparse.ArgumentParser(prog="python -m vtg.baselines", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (with dataset.yaml)")
    parser.add_argument("--split", default="val", help="split to predict (default: val)")
    parser.add_argument("--prior", default="train", help="split whose window lengths are drawn (default: train)")
    parser.add_argument("--out", type=Path, help="write the predictions here (JSON lines)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-windows", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        check_seed(args.seed, "option --seed")
        if args.max_windows < 1:
            raise UserError(f"option --max-windows: expected at least 1, got {args.max_windows}")
        if args.out is not None:
            check_output(args.out, "file")
        config = load_dataset_config(args.data)
        annotations = read_annotations(config.split_path(args.split), config.clip_len)
        prior = read_annotations(config.split_path(args.prior), config.clip_len) if args.prior else []
        predictions = random_predictions(annotations, config.clip_len, prior, args.seed, args.max_windows)
        if args.out is not None:
            write_jsonl(args.out, predictions)
        metrics = score_predictions(predictions, [annotation_to_record(a) for a in annotations], config.clip_len)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(to_json(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
