"""From SDST's outputs to the official prediction dicts (Sec. C.4, Eq. 23).

Each query's confidence is C = sqrt(p * Y^a) (Eq. 23), p = sigmoid of the class logit and Y^a the
actionness (C = p for a model without the actionness head); its segment (normalised centre-width)
becomes seconds through the video's duration, clipped to [0, duration]. Soft-NMS (the shared
:func:`vtg.postprocess.soft_nms.soft_nms_1d`) then ranks them and keeps at most ``max_windows``, with no
score floor, so every video gets ``min(M, max_windows)`` windows.
Saliency: the cosine scores of Eq. 16, one per real clip.
"""

from __future__ import annotations

from typing import Any

import torch

from sdst_teacher.sdst.segments import cw_to_se
from vtg.postprocess.soft_nms import soft_nms_1d


class PostProcess:
    """Turns a batch's outputs into ``{"qid", "query", "vid", "pred_relevant_windows", "pred_saliency_scores"}``."""

    def __init__(self, method: str, sigma: float, threshold: float, max_windows: int):
        self.method, self.sigma, self.threshold, self.max_windows = method, sigma, threshold, max_windows

    @torch.no_grad()
    def __call__(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, Any]]:
        confidence = outputs["pred_logits"].sigmoid()  # (B, M), p
        if "pred_actionness" in outputs:
            confidence = (confidence * outputs["pred_actionness"]).sqrt()  # (B, M), Eq. 23
        segments = cw_to_se(outputs["pred_spans"]).clamp(0.0, 1.0)  # (B, M, 2) normalised
        predictions = []
        for b, meta in enumerate(batch["meta"]):
            duration = float(meta["duration"])
            kept, scores = soft_nms_1d(
                segments[b] * duration,
                confidence[b],
                method=self.method,
                sigma=self.sigma,
                iou_threshold=self.threshold,
                score_threshold=0.0,
                max_windows=self.max_windows,
            )  # (K, 2) seconds, (K,)
            windows = [[float(s), float(e), float(c)] for (s, e), c in zip(kept.tolist(), scores.tolist())]
            num_clips = int(batch["video_mask"][b].sum())
            predictions.append(
                {
                    "qid": meta.get("qid"),
                    "query": meta.get("query"),
                    "vid": meta.get("vid"),
                    "pred_relevant_windows": windows,
                    "pred_saliency_scores": [float(s) for s in outputs["saliency"][b, :num_clips].tolist()],
                }
            )
        return predictions
