"""Video and text feature files, as the field distributes them.

- video: ``{dir}/{vid}.npz``, key ``features``, (T, D) or (T, K, D) for K backbone levels. Several folders
  (e.g. SlowFast 2304 + CLIP 512) are each L2-normalised along D, cut to the shortest T (extractors
  disagree by a clip or two at the end of a video) and concatenated along D.
- text: ``{dir}/qid{qid}.npz``, key ``last_hidden_state``, (L, D) or (K, L, D); L2-normalised along D.

Both come back level-major on the last-but-one axis: video (T, K, D), text (L, K, D), float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vtg.data.npz import read_npz_array
from vtg.errors import UserError

VIDEO_KEY = "features"
TEXT_KEY = "last_hidden_state"
# folders of one video may differ by this many clips (QVHighlights: SlowFast vs CLIP); more is a wrong file
MAX_LENGTH_MISMATCH = 2
EPS = 1e-6


def l2_normalize(array: np.ndarray) -> np.ndarray:
    """Divide each vector along the last axis by its L2 norm (zero vectors stay zero)."""
    norm = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.maximum(norm, EPS)


def video_feature_path(directory: Path, vid: str) -> Path:
    """Where the features of video ``vid`` live in ``directory``."""
    return Path(directory) / f"{vid}.npz"


def text_feature_path(directory: Path, qid: int | str) -> Path:
    """Where the features of query ``qid`` live in ``directory``."""
    return Path(directory) / f"qid{qid}.npz"


def load_video_features(directories: list[Path], vid: str, needed_by: str = "") -> np.ndarray:
    """The (T, K, D) features of ``vid``: every folder L2-normalised, cut to the shortest T, concatenated.

    A folder with one level, (T, D), is repeated over the K levels of the others; two folders with
    different K > 1 are an error.
    """
    parts, paths = [], []
    for directory in directories:
        path = video_feature_path(directory, vid)
        array = read_npz_array(path, VIDEO_KEY, (2, 3), "video feature file", needed_by)
        if array.ndim == 2:
            array = array[:, None, :]  # (T, 1, D)
        parts.append(l2_normalize(array))  # (T, K_f, D_f)
        paths.append(path)
    lengths = [part.shape[0] for part in parts]
    if max(lengths) - min(lengths) > MAX_LENGTH_MISMATCH:
        listing = ", ".join(f"{p} has {n}" for p, n in zip(paths, lengths))
        raise UserError(f"{paths[0]}: video feature folders disagree on the number of clips ({listing})")
    levels = {part.shape[1] for part in parts} - {1}
    if len(levels) > 1:
        listing = ", ".join(f"{p} has {part.shape[1]}" for p, part in zip(paths, parts))
        raise UserError(f"{paths[0]}: video feature folders disagree on the number of levels ({listing})")
    n_clips, n_levels = min(lengths), max(levels, default=1)
    parts = [np.broadcast_to(part[:n_clips], (n_clips, n_levels, part.shape[2])) for part in parts]
    return np.ascontiguousarray(np.concatenate(parts, axis=2))  # (T, K, sum D_f)


def load_text_features(directory: Path, qid: int | str, needed_by: str = "") -> np.ndarray:
    """The (L, K, D) token features of query ``qid``, L2-normalised."""
    path = text_feature_path(directory, qid)
    array = read_npz_array(path, TEXT_KEY, (2, 3), "text feature file", needed_by)
    if array.ndim == 2:
        array = array[None]  # (1, L, D)
    return np.ascontiguousarray(l2_normalize(array).transpose(1, 0, 2))  # (L, K, D)
