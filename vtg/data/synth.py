"""The built-in synthetic dataset: real on-disk layout, realistic statistics, a planted learnable signal.

What it plants (for query q with concept c_q, one of ``concepts`` random unit vectors):

- video clip t at level k of feature folder f::

      x[t, k] = scene + g_k * a_t * v_f[m_t] + noise,   g_k = signal * ((k + 1) / K) ** 2

  where ``m_t = c_q`` inside q's windows and a distractor concept (constant over random segments) outside,
  ``a_t`` in [0.5, 1] follows the clip's saliency inside windows and is random outside, ``scene`` is a
  per-video vector and ``noise`` has norm about ``noise``. Every clip holds exactly one concept with the
  same amplitude range, so a model that ignores the query cannot tell the windows from the background;
  deeper levels carry it more clearly.
- text token j at level k::

      w[j, k] = e[word_j] + (k + 1) / K * context * u[c_q] + text noise

  where the concept's word appears once or twice among filler words and ``u`` are the concepts' text
  embeddings (unrelated to ``v_f``: the model must learn the pairing); deeper levels spread the
  concept over all tokens, as a contextual encoder does.

Splits: ``train`` and ``val``, and with ``pretrain=N`` a third split of N more queries of the same world
(concepts, words, statistics), drawn after the other two so that they stay byte for byte what they are
without it: a teacher's pre-training corpus, as UniVTG's teacher is pre-trained on far more data than
the downstream task's labels (SpikingVTG Sec. 4.5.1: CLRM lets the student benefit from that).

Windows: one to three per query, short (< 10 s), middle (10-30 s) or long (> 30 s), on clip boundaries,
never touching; ``relevant_clip_ids`` are the clips inside them with three annotators' 0-4 scores
peaking mid-window. Files are written deterministically (:func:`vtg.data.npz.write_npz`): the same seed
gives the same bytes.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vtg.atomic import atomic_folder, atomic_write_text
from vtg.config import dump_yaml
from vtg.data.dataset_config import DATASET_FILE
from vtg.data.features import TEXT_KEY, VIDEO_KEY, text_feature_path, video_feature_path
from vtg.data.npz import write_npz
from vtg.errors import UserError
from vtg.json_file import to_json

CONCEPT_WORDS = (
    "dog cat guitar bicycle kitchen beach car piano ball tree boat horse book phone camera cake snow fire "
    "bridge train mountain river flower laptop baby drum skateboard pizza umbrella bird clock window"
).split()
FILLER_WORDS = (
    "a the man woman person is are with in on at near while and then of video shows someone people playing "
    "holding looking walking talking standing next to his her their some very slowly outside inside "
    "together young old small"
).split()

# window length in clips per kind; "long" is capped by the video
WINDOW_KINDS = {"short": (1, 4), "middle": (5, 15), "long": (16, 40)}
WINDOW_KIND_P = (0.35, 0.4, 0.25)
WINDOW_COUNT_P = (0.55, 0.3, 0.15)  # one, two, three windows


TEXT_DIR = "text_features"


@dataclass(frozen=True)
class Preset:
    """Size and difficulty of a synthetic dataset."""

    train: int
    val: int
    video_dims: tuple[int, ...]  # one feature folder per entry, concatenated by the loader
    text_dim: int
    levels: int
    min_clips: int
    max_clips: int
    clip_len: float = 2.0
    concepts: int = 24
    signal: float = 1.0  # deepest level: a linear probe on it separates windows almost perfectly
    noise: float = 1.0
    context: float = 0.5
    text_noise: float = 0.3
    min_tokens: int = 8
    max_tokens: int = 30
    video_dirs: tuple[str, ...] = ("video_features",)  # names of the folders of ``video_dims``


PRESETS: dict[str, Preset] = {
    # for tests: seconds to write, a few dozen queries, small dims
    "tiny": Preset(train=24, val=8, video_dims=(16,), text_dim=16, levels=2, min_clips=12, max_clips=40, concepts=8),
    # the CPU demo: a small spiking model learns it in minutes
    "demo": Preset(train=800, val=200, video_dims=(64,), text_dim=64, levels=3, min_clips=30, max_clips=75),
    # QVHighlights' dims (SlowFast 2304 + CLIP 512 video, CLIP 512 text, 150 s videos), few queries
    "qvhighlights": Preset(
        train=120,
        val=40,
        video_dims=(2304, 512),
        video_dirs=("slowfast_features", "clip_features"),
        text_dim=512,
        levels=1,
        min_clips=75,
        max_clips=75,
    ),
}


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """(n, dim) random directions."""
    vectors = rng.standard_normal((n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def place_windows(rng: np.random.Generator, n_clips: int) -> list[tuple[int, int]]:
    """Non-touching windows as (first clip, number of clips), sorted by start."""
    count = rng.choice(len(WINDOW_COUNT_P), p=WINDOW_COUNT_P) + 1
    taken = np.zeros(n_clips + 2, bool)  # one guard clip each side keeps windows apart
    windows = []
    for _ in range(count):
        kind = list(WINDOW_KINDS)[rng.choice(len(WINDOW_KIND_P), p=WINDOW_KIND_P)]
        low, high = WINDOW_KINDS[kind]
        high = min(high, max(1, int(0.6 * n_clips)))
        length = int(rng.integers(min(low, high), high + 1))
        starts = [s for s in range(n_clips - length + 1) if not taken[s : s + length + 2].any()]
        if not starts:
            continue
        start = int(rng.choice(starts))
        taken[start : start + length + 2] = True
        windows.append((start, length))
    return sorted(windows)


def saliency_for(rng: np.random.Generator, length: int) -> np.ndarray:
    """(length, 3) integer scores 0-4 of three annotators, highest mid-window."""
    bump = np.sin(np.pi * (np.arange(length) + 0.5) / length)  # (length,) in (0, 1]
    base = 1.0 + 3.0 * bump * rng.uniform(0.6, 1.0)
    scores = np.rint(base[:, None] + rng.normal(0.0, 0.7, (length, 3)))
    return np.clip(scores, 0, 4).astype(int)


class SyntheticWorld:
    """The concept vocabulary shared by every query of a synthetic dataset."""

    def __init__(self, rng: np.random.Generator, preset: Preset) -> None:
        if preset.concepts > len(CONCEPT_WORDS):
            raise UserError(f"field 'concepts': at most {len(CONCEPT_WORDS)} concepts, got {preset.concepts}")
        self.preset = preset
        self.video_concepts = [unit_vectors(rng, preset.concepts, dim) for dim in preset.video_dims]
        self.text_concepts = unit_vectors(rng, preset.concepts, preset.text_dim)
        self.filler_embeddings = unit_vectors(rng, len(FILLER_WORDS), preset.text_dim)

    def query(self, rng: np.random.Generator, concept: int) -> tuple[str, np.ndarray]:
        """A query string and its token features (K, L, Dt)."""
        p = self.preset
        n_tokens = int(rng.integers(p.min_tokens, p.max_tokens + 1))
        words = rng.integers(len(FILLER_WORDS), size=n_tokens)
        embeddings = self.filler_embeddings[words]  # (L, Dt)
        positions = rng.choice(n_tokens, size=int(rng.integers(1, 3)), replace=False)
        embeddings[positions] = self.text_concepts[concept]
        text = [FILLER_WORDS[w] for w in words]
        for position in positions:
            text[position] = CONCEPT_WORDS[concept]
        fraction = (np.arange(p.levels) + 1.0) / p.levels  # (K,)
        context = fraction[:, None, None] * p.context * self.text_concepts[concept]  # (K, 1, Dt)
        noise = rng.standard_normal((p.levels, n_tokens, p.text_dim)) * (p.text_noise / math.sqrt(p.text_dim))
        features = embeddings[None] + context + noise  # (K, L, Dt)
        return " ".join(text), features.astype(np.float32)

    def video(self, rng: np.random.Generator, concept: int, n_clips: int, windows, saliency) -> list[np.ndarray]:
        """One (T, K, D_f) array per feature folder; ``saliency`` (T,) in [0, 1] is 0 off-window."""
        p = self.preset
        # which concept each clip shows, and how strongly: distractor segments outside the windows
        shown = np.empty(n_clips, int)
        amplitude = np.empty(n_clips)
        t = 0
        others = [c for c in range(p.concepts) if c != concept]
        while t < n_clips:
            length = int(rng.integers(2, 11))
            shown[t : t + length] = rng.choice(others)
            amplitude[t : t + length] = rng.uniform(0.5, 1.0)
            t += length
        for start, length in windows:
            shown[start : start + length] = concept
            amplitude[start : start + length] = 0.5 + 0.5 * saliency[start : start + length]
        gain = p.signal * ((np.arange(p.levels) + 1.0) / p.levels) ** 2  # (K,)
        arrays = []
        for index, (dim, concepts) in enumerate(zip(p.video_dims, self.video_concepts)):
            # as in QVHighlights, the first of several backbones sometimes yields one clip more
            n = n_clips + (int(rng.integers(0, 2)) if index == 0 and len(p.video_dims) > 1 else 0)
            scene = unit_vectors(rng, 1, dim)  # (1, D)
            planted = amplitude[:, None] * concepts[shown]  # (T, D)
            planted = np.concatenate([planted, planted[-1:].repeat(n - n_clips, 0)])  # (n, D)
            noise = rng.standard_normal((n, p.levels, dim)) * (p.noise / math.sqrt(dim))
            features = scene[:, None, :] + gain[None, :, None] * planted[:, None, :] + noise  # (n, K, D)
            arrays.append(features.astype(np.float32))
        return arrays


def write_synthetic(
    out: Path,
    seed: int,
    preset_name: str,
    levels: int | None = None,
    train: int | None = None,
    val: int | None = None,
    pretrain: int = 0,
) -> dict[str, Any]:
    """Write a synthetic dataset folder (with a ``pretrain`` split of that many queries when > 0); return a
    summary of what was written."""
    if preset_name not in PRESETS:
        raise UserError(f"option --preset: unknown preset {preset_name!r} (choose from {', '.join(PRESETS)})")
    preset = PRESETS[preset_name]
    overrides = {"levels": levels, "train": train, "val": val}
    for name, value in overrides.items():
        if value is not None and value < 1:
            raise UserError(f"option --{name}: expected a positive number, got {value}")
    if pretrain < 0:
        raise UserError(f"option --pretrain: expected 0 or more queries, got {pretrain}")
    preset = replace(preset, **{k: v for k, v in overrides.items() if v is not None})

    rng = np.random.default_rng(seed)
    world = SyntheticWorld(rng, preset)
    # the whole folder is written aside and moved into place at the end: an interrupted run or a full disk
    # leaves no partial dataset
    feature_dirs = [*preset.video_dirs, TEXT_DIR]
    with atomic_folder(out) as folder:
        size = _write_dataset(folder, rng, world, preset, pretrain)
        written = {name: {path.name for path in (folder / name).glob("*.npz")} for name in feature_dirs}
    # an earlier run's feature files that this one did not overwrite (other sizes), removed only now that
    # the new dataset is in place: stopped here, the folder holds the new dataset and unused files
    for name in feature_dirs:
        for stale in (out / name).glob("*.npz"):
            if stale.name not in written[name]:
                stale.unlink()
    return {
        "out": str(out),
        "preset": preset_name,
        "seed": seed,
        "queries": _splits(preset, pretrain),
        "video_dim": sum(preset.video_dims),
        "text_dim": preset.text_dim,
        "video_levels": preset.levels,
        "text_levels": preset.levels,
        "clip_len": preset.clip_len,
        "video_feature_dirs": list(preset.video_dirs),
        "text_feature_dir": TEXT_DIR,
        "bytes": size,
    }


def _splits(preset: Preset, pretrain: int) -> dict[str, int]:
    """Queries per split: the preset's train and val, and ``pretrain`` when > 0."""
    return {"train": preset.train, "val": preset.val, **({"pretrain": pretrain} if pretrain else {})}


def _write_dataset(out: Path, rng: np.random.Generator, world: SyntheticWorld, preset: Preset, pretrain: int) -> int:
    """Write the feature files, the splits' jsonl and ``dataset.yaml`` into the empty folder ``out``; return
    the bytes written."""
    video_dirs = [out / name for name in preset.video_dirs]
    text_dir = out / TEXT_DIR
    for directory in [*video_dirs, text_dir]:
        directory.mkdir(parents=True, exist_ok=True)
    qid = 0
    splits = _splits(preset, pretrain)
    with tqdm(total=sum(splits.values()), desc="vtg data synth", unit="query", file=sys.stderr) as bar:
        for split, count in splits.items():
            lines = []
            for i in range(count):
                lines.append(write_query(rng, world, qid, f"{split}_{i:05d}", video_dirs, text_dir))
                qid += 1
                bar.update()
            atomic_write_text(out / f"{split}.jsonl", "".join(to_json(line) + "\n" for line in lines))

    description = {
        "clip_len": preset.clip_len,
        "video_feature_dirs": list(preset.video_dirs),
        "text_feature_dir": text_dir.name,
        "splits": {split: f"{split}.jsonl" for split in splits},
    }
    atomic_write_text(out / DATASET_FILE, dump_yaml(description))
    return sum(path.stat().st_size for path in out.rglob("*") if path.is_file())


def write_query(
    rng: np.random.Generator, world: SyntheticWorld, qid: int, vid: str, video_dirs: list[Path], text_dir: Path
) -> dict[str, Any]:
    """Draw one query and its video, write their feature files, return its annotation line."""
    p = world.preset
    n_clips = int(rng.integers(p.min_clips, p.max_clips + 1))
    concept = int(rng.integers(p.concepts))
    windows = place_windows(rng, n_clips)
    saliency = np.zeros(n_clips)
    clip_ids, scores = [], []
    for start, length in windows:
        window_scores = saliency_for(rng, length)  # (n, 3)
        saliency[start : start + length] = window_scores.mean(axis=1) / 4.0
        clip_ids.extend(range(start, start + length))
        scores.extend(window_scores.tolist())
    for directory, array in zip(video_dirs, world.video(rng, concept, n_clips, windows, saliency)):
        write_npz(video_feature_path(directory, vid), **{VIDEO_KEY: array if p.levels > 1 else array[:, 0]})
    query, tokens = world.query(rng, concept)
    write_npz(text_feature_path(text_dir, qid), **{TEXT_KEY: tokens if p.levels > 1 else tokens[0]})
    return {
        "qid": qid,
        "query": query,
        "vid": vid,
        "duration": n_clips * p.clip_len,
        "relevant_windows": [[start * p.clip_len, (start + length) * p.clip_len] for start, length in windows],
        "relevant_clip_ids": clip_ids,
        "saliency_scores": scores,
    }
