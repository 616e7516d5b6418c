"""The PyTorch dataset over a dataset folder (``dataset.yaml`` + annotations + feature files).

``VTGDataset(root, split)[i]`` is one query with its video: features, clip-level targets (see
:mod:`vtg.data.labels`), the windows in seconds and the meta data; :func:`vtg.data.collate.collate`
pads a list of them into the batch of docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vtg.checkpoint import format_dims
from vtg.data.annotations import Annotation, read_annotations
from vtg.data.dataset_config import load_dataset_config
from vtg.data.features import (
    MAX_LENGTH_MISMATCH,
    load_text_features,
    load_video_features,
    text_feature_path,
    video_feature_path,
)
from vtg.data.labels import clip_targets
from vtg.errors import UserError

DEFAULT_CACHE_BYTES = 2 << 30  # keep features in memory up to this size (a small dataset entirely)


class VTGDataset(Dataset):
    """Queries of one split of a dataset folder.

    Args:
        root: the dataset folder (holding ``dataset.yaml``).
        split: a key of ``splits`` in ``dataset.yaml``.
        max_video_len: keep at most this many clips of each video (labels follow the cut).
        max_query_len: keep at most this many tokens of each query.
        require_labels: whether every line must have ``relevant_windows`` (False for a test split).
        cache_bytes: features read are kept in memory until their total reaches this size.

    Each item is a dict: ``video`` (Lv, K, Dv), ``text`` (Lq, Kt, Dt), ``foreground`` (Lv,),
    ``boundary`` (Lv, 2), ``saliency`` (Lv,), ``saliency_valid`` (bool), ``windows`` (n, 2) seconds
    and ``meta`` {qid, vid, query, duration, clip_len}.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        max_video_len: int | None = None,
        max_query_len: int | None = None,
        require_labels: bool = True,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.config = load_dataset_config(root)
        self.split = split
        self.annotations: list[Annotation] = read_annotations(
            self.config.split_path(split), clip_len=self.config.clip_len, require_windows=require_labels
        )
        for name, value in (("max_video_len", max_video_len), ("max_query_len", max_query_len)):
            if value is not None and value < 1:
                raise UserError(f"field '{name}': expected a positive number, got {value}")
        self.max_video_len = max_video_len
        self.max_query_len = max_query_len
        self.cache_bytes = cache_bytes
        self._cache: dict[tuple[str, Any], np.ndarray] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.annotations)

    @cached_property
    def dims(self) -> dict[str, int]:
        """``{video_dim, text_dim, video_levels, text_levels}``, read from the first query's files."""
        first = self.annotations[0]
        video = self._read(("video", first.vid), first)
        text = self._read(("text", first.qid), first)
        return {
            "video_dim": int(video.shape[2]),
            "text_dim": int(text.shape[2]),
            "video_levels": int(video.shape[1]),
            "text_levels": int(text.shape[1]),
        }

    def check_same_dims(self, first: VTGDataset) -> None:
        """A :class:`UserError` when this split's dims differ from split ``first``'s of the same folder (a model
        is built for one set of dims)."""
        if self.dims != first.dims:
            raise UserError(
                f"{self.config.root}: split '{self.split}' has dims ({format_dims(self.dims)}) but split "
                f"'{first.split}' has ({format_dims(first.dims)})"
            )

    def _read(self, key: tuple[str, Any], annotation: Annotation) -> np.ndarray:
        """Features of a video (``("video", vid)``) or query (``("text", qid)``), from memory when cached.

        A video's clip count is checked against every query's duration, cached or not: two queries of one
        video may disagree, and which is read first must not decide whether the split is refused."""
        array = self._cache.get(key)
        if array is None:
            if key[0] == "video":
                array = load_video_features(self.config.video_feature_dirs, key[1], annotation.location)
            else:
                array = load_text_features(self.config.text_feature_dir, key[1], annotation.location)
            if self._cached_bytes + array.nbytes <= self.cache_bytes:
                self._cache[key] = array
                self._cached_bytes += array.nbytes
        if key[0] == "video":
            self._check_clips(array.shape[0], annotation)
        return array

    def _check_clips(self, clips: int, annotation: Annotation) -> None:
        """A :class:`UserError` when a video's features have a number of clips its duration cannot give.

        ``duration / clip_len`` clips, rounded up, give or take :data:`MAX_LENGTH_MISMATCH` (extractors
        disagree by a clip or two at a video's end); a file of another video, or of another clip length, is
        further off and would silently misplace every label.
        """
        expected = math.ceil(annotation.duration / self.config.clip_len - 1e-6)
        if abs(clips - expected) > MAX_LENGTH_MISMATCH:
            path = video_feature_path(self.config.video_feature_dirs[0], annotation.vid)
            raise UserError(
                f"{path}: {clips} clips, but {annotation.location}: field 'duration' ({annotation.duration:g} s) "
                f"makes {expected} clips of {self.config.clip_len:g} s (clip_len of {self.config.path})"
            )

    def _checked(self, key: tuple[str, Any], annotation: Annotation) -> np.ndarray:
        """:meth:`_read`, checking the levels and width against :attr:`dims` (one model serves all)."""
        array = self._read(key, annotation)
        kind = key[0]
        expected = (self.dims[f"{kind}_levels"], self.dims[f"{kind}_dim"])
        if array.shape[1:] != expected:
            path = (
                video_feature_path(self.config.video_feature_dirs[0], key[1])
                if kind == "video"
                else text_feature_path(self.config.text_feature_dir, key[1])
            )
            first = self.annotations[0]
            raise UserError(
                f"{path}: {kind} features have {array.shape[1]} levels of width {array.shape[2]}, but those of "
                f"the first query ({first.location}) have {expected[0]} of width {expected[1]}"
            )
        return array

    def __getitem__(self, index: int) -> dict[str, Any]:
        annotation = self.annotations[index]
        video = self._checked(("video", annotation.vid), annotation)[: self.max_video_len]  # (Lv, K, Dv)
        text = self._checked(("text", annotation.qid), annotation)[: self.max_query_len]  # (Lq, Kt, Dt)
        clip_len = self.config.clip_len
        foreground, boundary, saliency = clip_targets(
            annotation.windows, annotation.clip_ids, annotation.saliency_scores, video.shape[0], clip_len
        )
        return {
            "video": torch.from_numpy(np.array(video)),
            "text": torch.from_numpy(np.array(text)),
            "foreground": torch.from_numpy(foreground),
            "boundary": torch.from_numpy(boundary),
            "saliency": torch.from_numpy(saliency),
            "saliency_valid": annotation.has_saliency,
            "windows": torch.tensor(annotation.windows, dtype=torch.float32).reshape(-1, 2),
            "meta": {
                "qid": annotation.qid,
                "vid": annotation.vid,
                "query": annotation.query,
                "duration": annotation.duration,
                "clip_len": clip_len,
            },
        }
