"""Padding a list of :class:`~vtg.data.dataset.VTGDataset` items into the batch of docs/ARCHITECTURE.md, and moving
a batch to a device."""

from __future__ import annotations

from typing import Any

import torch


def pad_stack(tensors: list[torch.Tensor], length: int) -> torch.Tensor:
    """Stack tensors of shape (L_i, ...) into (B, length, ...), zero-padded at the end of dim 0."""
    out = tensors[0].new_zeros((len(tensors), length, *tensors[0].shape[1:]))
    for i, tensor in enumerate(tensors):
        out[i, : tensor.shape[0]] = tensor
    return out


def lengths_mask(lengths: list[int], length: int) -> torch.Tensor:
    """(B, length) bool, True on the first ``lengths[i]`` positions of row i."""
    return torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad video and text to the longest in the batch and stack every field.

    Returns ``video`` (B, Lv, K, Dv), ``video_mask`` (B, Lv), ``text`` (B, Lq, Kt, Dt), ``text_mask``
    (B, Lq), ``foreground`` (B, Lv), ``boundary`` (B, Lv, 2), ``saliency`` (B, Lv), ``saliency_valid``
    (B,), and the lists ``windows`` and ``meta``.
    """
    video_lengths = [item["video"].shape[0] for item in items]
    text_lengths = [item["text"].shape[0] for item in items]
    lv, lq = max(video_lengths), max(text_lengths)
    return {
        "video": pad_stack([item["video"] for item in items], lv),  # (B, Lv, K, Dv)
        "video_mask": lengths_mask(video_lengths, lv),  # (B, Lv)
        "text": pad_stack([item["text"] for item in items], lq),  # (B, Lq, Kt, Dt)
        "text_mask": lengths_mask(text_lengths, lq),  # (B, Lq)
        "foreground": pad_stack([item["foreground"] for item in items], lv),  # (B, Lv)
        "boundary": pad_stack([item["boundary"] for item in items], lv),  # (B, Lv, 2)
        "saliency": pad_stack([item["saliency"] for item in items], lv),  # (B, Lv)
        "saliency_valid": torch.tensor([bool(item["saliency_valid"]) for item in items]),  # (B,)
        "windows": [item["windows"] for item in items],
        "meta": [item["meta"] for item in items],
    }


def move_batch(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The batch with its tensor entries on ``device``.

    ``windows`` (ground truth in seconds) and ``meta`` stay on the host: they are read only when
    predictions are written and scored, which happens on the CPU, so copying them would be wasted work.
    """
    return {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}
