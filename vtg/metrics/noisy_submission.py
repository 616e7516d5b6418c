"""A seeded, realistic-looking submission for given ground truth: the input of the parity checks.

It is built to exercise every rule of the official evaluator, not to score well:

- 11 to 15 windows per query (so the cut at 10 matters): noisy copies of the GT windows (scored
  higher), random windows, exact duplicates, some snapped to the 2 s grid (IoU landing exactly on a
  threshold), clipped to the video and rounded to 2 decimals; scores rounded to 4 decimals, or to 1
  decimal for some queries (ties); listed by decreasing score except for a few queries listed in random
  order (the official top-1 is the first *listed* window);
- saliency: the annotators' mean score / 4 plus Gaussian noise for each 2 s clip (clips without
  saliency start from 0), rounded (ties), and for some queries cut short or made too long.
"""

from __future__ import annotations

import numpy as np

CLIP_LEN_S = 2.0


def _windows(record: dict, rng: np.random.Generator) -> list[list[float]]:
    duration = float(record["duration"])
    rows = []  # (st, ed, score)
    for st, ed in record.get("relevant_windows", []):
        for _ in range(rng.integers(1, 4)):
            sigma = 0.2 * (ed - st) + 2.0
            a, b = sorted(np.clip([st + rng.normal(0, sigma), ed + rng.normal(0, sigma)], 0, duration))
            rows.append([a, b, rng.uniform(0.4, 1.0)])
    count = int(rng.integers(11, 16))
    while len(rows) < count:
        st = rng.uniform(0, duration)
        rows.append([st, min(duration, st + rng.uniform(2, 0.6 * duration)), rng.uniform(0.0, 0.7)])
    rows = rows[:count]
    windows = np.array(rows)  # (n, 3)
    snap = rng.random(len(windows)) < 0.3
    windows[snap, :2] = np.round(windows[snap, :2] / CLIP_LEN_S) * CLIP_LEN_S
    windows[:, :2] = np.clip(np.round(windows[:, :2], 2), 0, duration)  # snapping may pass an odd duration
    windows[:, 2] = np.round(windows[:, 2], 1 if rng.random() < 0.15 else 4)
    if rng.random() < 0.3:  # an exact duplicate of a window, score included
        i, j = rng.choice(len(windows), size=2, replace=False)
        windows[j] = windows[i]
    order = rng.permutation(len(windows)) if rng.random() < 0.05 else np.argsort(-windows[:, 2], kind="stable")
    return windows[order].tolist()


def _saliency(record: dict, rng: np.random.Generator) -> list[float]:
    num_clips = int(float(record["duration"]) / CLIP_LEN_S)
    target = np.zeros(num_clips)
    for clip, scores in zip(record.get("relevant_clip_ids", []), record.get("saliency_scores", [])):
        if clip < num_clips:
            target[clip] = np.mean(scores) / 4
    predicted = target + rng.normal(0, 0.6, num_clips)
    change = rng.random()
    if change < 0.1:
        predicted = predicted[: max(1, num_clips - int(rng.integers(1, 10)))]
    elif change < 0.2:
        predicted = np.append(predicted, rng.normal(0, 0.6, int(rng.integers(1, 10))))
    return np.round(predicted, 1 if rng.random() < 0.2 else 4).tolist()


def noisy_submission(ground_truth: list[dict], seed: int) -> list[dict]:
    """One prediction dict per ground-truth dict, in the same order; the same seed gives the same output."""
    rng = np.random.default_rng(seed)
    return [
        {
            "qid": record["qid"],
            "query": record.get("query", ""),
            "vid": record.get("vid", ""),
            "pred_relevant_windows": _windows(record, rng),
            "pred_saliency_scores": _saliency(record, rng),
        }
        for record in ground_truth
    ]
