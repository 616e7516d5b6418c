"""FP-MAC energy of a non-spiking teacher (UniVTG-style or SDST), counted by running it.

A non-spiking network computes every product whatever its inputs, so its cost is the multiply-
accumulates of its matrix products and convolutions: E = MACs x e_fp_mac, as the paper's E_A counts
"FLOPs used in attention and linear layers" (section 5.1). The MACs are counted by PyTorch's
``FlopCounterMode`` (matmul, linear, conv, batched matmul and fused attention; one MAC = 2 FLOPs) while
the model runs one query at a time, trimmed to its real clips and tokens, so that padding is not priced.
Element-wise work (softmax, LayerNorm, GELU) and sampling (SDST's deformable attention reads its
points with ``grid_sample``) are not counted, as the paper counts only products.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils import flop_counter
from tqdm import tqdm

from energy.neuromorphic import teacher_mj
from energy.ops import OpTable

VIDEO_KEYS = ("video", "video_mask", "foreground", "boundary", "saliency")
TEXT_KEYS = ("text", "text_mask")


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    # PyTorch 2.3's counter knows the CUDA fused-attention kernels but not the CPU one
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


CUSTOM_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


def count_macs(run: Callable[[], Any]) -> tuple[float, Any]:
    """Multiply-accumulates performed by ``run()`` (matrix products, convolutions, attention), and its result."""
    # nn.MultiheadAttention's inference fast path is one opaque kernel the counter cannot see into
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), flop_counter.FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
            result = run()
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops() / 2, result


def split_batch(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """One batch of size 1 per query, cut to that query's real clips and tokens (no padding)."""
    queries = []
    for i in range(len(batch["meta"])):
        lv = int(batch["video_mask"][i].sum())
        lq = int(batch["text_mask"][i].sum())
        single = {}
        for key, value in batch.items():
            if key in VIDEO_KEYS:
                single[key] = value[i : i + 1, :lv]
            elif key in TEXT_KEYS:
                single[key] = value[i : i + 1, :lq]
            else:
                single[key] = value[i : i + 1]  # tensors (B, ...) and the lists windows, meta
        queries.append(single)
    return queries


def run_teacher(
    model: torch.nn.Module, batches: Iterable[dict[str, Any]], table: OpTable, progress: bool = True
) -> tuple[list[dict], dict]:
    """Predictions of ``model`` and its FP-MAC energy per query (mean, mJ), one query at a time."""
    model.eval()
    predictions: list[dict] = []
    macs: list[float] = []
    for batch in tqdm(batches, desc="teacher", unit="batch", file=sys.stderr, disable=not progress):
        for single in split_batch(batch):
            count, outputs = count_macs(lambda single=single: model(single))
            macs.append(count)
            with torch.no_grad():
                predictions.extend(model.predict(single, outputs))
    mean_macs = sum(macs) / len(macs)
    energy = {"queries": len(macs), "fp_macs": mean_macs, "total_mj": table.mj("fp_mac", mean_macs)}
    return predictions, {**energy, "estimates_mj": teacher_mj(mean_macs, table)}  # with memory, beside
