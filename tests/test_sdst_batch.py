"""A tiny random batch in the layout of docs/ARCHITECTURE.md, shared by the SDST tests, and checks of it."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)

TINY_DIMS = {"video_dim": 12, "text_dim": 10, "video_levels": 3, "text_levels": 3}
TINY_MODEL = {
    "name": "sdst",
    "hidden_dim": 16,
    "num_heads": 2,
    "ffn_ratio": 2,
    "dropout": 0.1,
    "droppath": 0.1,
    "num_queries": 5,
    "rdsa_cnn_hidden": 8,
    "rdsa_latent_dim": 8,
    "deformable_points": 2,
    "roi_size": 4,
}


def make_batch(
    dims: dict[str, int] = TINY_DIMS, lengths: tuple[int, ...] = (10, 7, 12), seed: int = 0, clip_len: float = 2.0
) -> dict:
    """Random features, one or two windows per video, saliency on the first video only (the rest use foreground)."""
    g = torch.Generator().manual_seed(seed)
    batch_size, lv, lq = len(lengths), max(lengths), 6
    video = torch.randn(batch_size, lv, dims["video_levels"], dims["video_dim"], generator=g)
    text = torch.randn(batch_size, lq, dims["text_levels"], dims["text_dim"], generator=g)
    video_mask = torch.arange(lv)[None] < torch.tensor(lengths)[:, None]
    text_mask = torch.ones(batch_size, lq, dtype=torch.bool)
    text_mask[1:, 4:] = False  # every video but the first has 4 real text tokens
    video = video * video_mask[:, :, None, None]
    foreground = torch.zeros(batch_size, lv)
    saliency = torch.zeros(batch_size, lv)
    windows, meta = [], []
    for b, n in enumerate(lengths):
        spans = [(1, 4)] if b % 2 else [(0, 2), (n - 3, n)]
        for s, e in spans:
            foreground[b, s:e] = 1.0
        if b == 0:
            saliency[b, :n] = torch.rand(n, generator=g) * foreground[b, :n]
        windows.append(torch.tensor([[s * clip_len, e * clip_len] for s, e in spans], dtype=torch.float32))
        meta.append({"qid": b, "vid": f"v{b}", "query": f"query {b}", "duration": n * clip_len, "clip_len": clip_len})
    return {
        "video": video,
        "video_mask": video_mask,
        "text": text,
        "text_mask": text_mask,
        "foreground": foreground,
        "boundary": torch.zeros(batch_size, lv, 2),
        "saliency": saliency,
        "saliency_valid": torch.tensor([True] + [False] * (batch_size - 1)),
        "windows": windows,
        "meta": meta,
    }


def test_make_batch_follows_the_contract():
    batch = make_batch()
    assert batch["video"].shape == (3, 12, 3, 12)
    assert batch["text"].shape == (3, 6, 3, 10)
    assert batch["video_mask"].sum(1).tolist() == [10, 7, 12]
    assert all(w.shape[1] == 2 for w in batch["windows"])
