"""SDST, the Sparse-Dense Side-Tuner (Pujol-Perich et al.), built from the paper equation by equation.

Inputs (docs/ARCHITECTURE.md): ``video`` (B, Lv, K, Dv) holds the backbone's K intermediate levels V~ and
``text`` (B, Lq, Kt, Dt) its text levels T~. ``model.levels`` picks the refined video levels (default: all,
shallow to deep); text level l goes with video level l when Kt == K, and when Kt == 1 the single text level
is used at every video level (text features without intermediate levels). The recurrence (Eq. 1)

    D^0 = 0,  (R^0, H^0) learnt;  for each level l:  D^{l+1}, R^{l+1}, H^{l+1} = SDST(D^l, R^l, H^l, V~^l, T~^l)

runs one shared :class:`SDSTLayer` (or one per level with ``shared_levels: false``); the gate beta^l of
Eq. 3 is one parameter per level either way. The class and regression heads act on H at every level (the
losses of Eq. 13 apply at every level); saliency (Eq. 16) and actionness (Eq. 20) use the last level.

Outputs of ``forward``: ``pred_logits`` (B, M), ``pred_spans`` (B, M, 2) normalised centre-width,
``pred_actionness`` (B, M) (with ``actionness: true``), ``saliency`` (B, Lv) (Eq. 16, 0 on padding), per
level ``level_logits``, ``level_spans``, ``level_video`` (V^l, (B, Lv, D)), ``level_text_pool`` (T^pool,l,
(B, D)) and, for RDSA or Def. CA, ``level_offsets`` / ``level_offset_weights`` (B, M, H, P) (Fig. 4's analysis).

``forward(batch, return_hidden=True)`` adds, for CLRM distillation, ``hidden_states``: one (B, Lv, D) per
level, the dense stream's output D^{l+1} (token i = clip i; padded clips hold values but are masked out by
``video_mask``), and ``attentions``: one (B, H, Lv, Lv) per level, the dense stream's self-attention
probabilities (rows sum to 1 over the real clips; L = Lv, video tokens only).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sdst_teacher.sdst.blocks import MLP
from sdst_teacher.sdst.config import SDSTConfig
from sdst_teacher.sdst.criterion import SDSTCriterion
from sdst_teacher.sdst.heads import ActionnessHead, TextPooling, saliency_scores
from sdst_teacher.sdst.layer import SDSTLayer
from sdst_teacher.sdst.postprocess import PostProcess
from sdst_teacher.sdst.queries import RecurrentQueries
from vtg.errors import UserError

CLASS_PRIOR = 0.01  # initial p of every query, the focal-loss initialisation of [21]
DIM_KEYS = ("video_dim", "text_dim", "video_levels", "text_levels")


class SDST(nn.Module):
    """The full model: K refinement levels, heads, criterion and post-processing (see the module docstring)."""

    def __init__(self, config: SDSTConfig, dims: dict[str, int]):
        super().__init__()
        self.config = config
        self.dims = dict(dims)
        self.levels = resolve_levels(config.levels, dims["video_levels"])
        self.text_levels = text_levels_for(self.levels, dims["video_levels"], dims["text_levels"])
        dim = config.hidden_dim
        num_layers = 1 if config.shared_levels else len(self.levels)
        self.layers = nn.ModuleList(SDSTLayer(config, dims["video_dim"], dims["text_dim"]) for _ in range(num_layers))
        self.betas = nn.Parameter(torch.zeros(len(self.levels)))  # beta^l of Eq. 3, zero-initialised
        self.queries = RecurrentQueries(config.num_queries, dim)
        self.class_head = nn.Linear(dim, 1)  # 1-layer MLP (Table A)
        nn.init.constant_(self.class_head.bias, -math.log((1 - CLASS_PRIOR) / CLASS_PRIOR))
        self.regression_head = MLP(dim, dim, 2, depth=3)  # 3-layer MLP (Table A)
        last = self.regression_head.layers[-1]
        nn.init.zeros_(last.weight)  # the first prediction is the reference itself (DAB-DETR)
        nn.init.zeros_(last.bias)
        self.text_pooling = TextPooling(dim)
        self.actionness_head = ActionnessHead(dim, config.roi_size, config.roi_scale) if config.actionness else None
        self.criterion = SDSTCriterion(config)
        self.postprocess = PostProcess(config.nms_method, config.nms_sigma, config.nms_threshold, config.max_windows)

    def layer(self, level: int) -> SDSTLayer:
        return self.layers[0] if self.config.shared_levels else self.layers[level]

    def check_batch(self, batch: dict[str, Any]) -> None:
        """Shapes against ``dims``; a batch from other features is a user mistake naming the field."""
        video, text = batch["video"], batch["text"]
        if video.dim() != 4 or video.shape[2] != self.dims["video_levels"] or video.shape[3] != self.dims["video_dim"]:
            raise UserError(
                f"field 'video': expected (B, Lv, {self.dims['video_levels']}, {self.dims['video_dim']}), "
                f"got {tuple(video.shape)}"
            )
        if text.dim() != 4 or text.shape[2] != self.dims["text_levels"] or text.shape[3] != self.dims["text_dim"]:
            raise UserError(
                f"field 'text': expected (B, Lq, {self.dims['text_levels']}, {self.dims['text_dim']}), "
                f"got {tuple(text.shape)}"
            )

    def forward(self, batch: dict[str, Any], return_hidden: bool = False) -> dict[str, Any]:
        self.check_batch(batch)
        video, text = batch["video"].float(), batch["text"].float()  # (B, Lv, K, Dv), (B, Lq, Kt, Dt)
        video_mask, text_mask = batch["video_mask"], batch["text_mask"]  # (B, Lv), (B, Lq)
        video_pad, text_pad = ~video_mask, ~text_mask
        span = torch.tensor(
            [float(m["duration"]) / float(m["clip_len"]) for m in batch["meta"]], device=video.device
        )  # (B,) each video's length in clips: normalised position u is clip position u * span
        batch_size, num_clips = video.shape[:2]

        dense = video.new_zeros(batch_size, num_clips, self.config.hidden_dim)  # D^0 (B, Lv, D)
        references, hidden = self.queries.initial(batch_size)  # (B, M, 2), (B, M, D)
        outputs: dict[str, Any] = {key: [] for key in ("level_logits", "level_spans", "level_video", "level_text_pool")}
        hidden_states, attentions, offsets, offset_weights = [], [], [], []
        for k, (v_level, t_level) in enumerate(zip(self.levels, self.text_levels)):
            step = self.layer(k)(
                dense,
                self.betas[k],
                hidden,
                self.queries.position(references),
                references,
                video[:, :, v_level],
                text[:, :, t_level],
                video_pad,
                text_pad,
                span,
                need_weights=return_hidden,
            )
            dense, hidden = step.dense, step.hidden  # (B, Lv, D), (B, M, D)
            spans = self.queries.refine(references, self.regression_head(hidden))  # (B, M, 2), R^{l+1}
            references = spans.detach()
            outputs["level_logits"].append(self.class_head(hidden).squeeze(-1))  # (B, M)
            outputs["level_spans"].append(spans)
            outputs["level_video"].append(step.video)
            outputs["level_text_pool"].append(self.text_pooling(step.text, text_pad))  # (B, D)
            hidden_states.append(dense)
            attentions.append(step.attention)
            if step.deformable:
                offsets.append(step.deformable["offsets"])
                offset_weights.append(step.deformable["weights"])

        outputs["pred_logits"] = outputs["level_logits"][-1]
        outputs["pred_spans"] = outputs["level_spans"][-1]
        if self.actionness_head is not None:
            valid_dense = dense * video_mask[..., None]  # (B, Lv, D), padding must not leak into RoIs
            outputs["pred_actionness"] = self.actionness_head(valid_dense, outputs["pred_spans"].detach(), span)
        saliency = saliency_scores(dense, outputs["level_text_pool"][-1])  # (B, Lv), Eq. 16
        outputs["saliency"] = saliency.masked_fill(video_pad, 0.0)
        if offsets:
            outputs["level_offsets"], outputs["level_offset_weights"] = offsets, offset_weights
        if return_hidden:
            outputs["hidden_states"], outputs["attentions"] = hidden_states, attentions
        return outputs

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Eq. 14 and its terms; ``losses["total"]`` is back-propagated."""
        return self.criterion(outputs, batch)

    def predict(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, Any]]:
        """Official prediction dicts: soft-NMS on sqrt(p * actionness) (Eq. 23; p without the actionness head),
        at most ``max_windows``."""
        return self.postprocess(batch, outputs)


def resolve_levels(levels: tuple[int, ...] | None, video_levels: int) -> tuple[int, ...]:
    """``model.levels`` as non-negative indices into the batch's video levels (Python's negative indexing)."""
    if levels is None:
        return tuple(range(video_levels))
    resolved = []
    for level in levels:
        if not -video_levels <= level < video_levels:
            raise UserError(f"field 'model.levels': level {level} is out of range for {video_levels} video levels")
        resolved.append(level % video_levels)
    return tuple(resolved)


def text_levels_for(levels: tuple[int, ...], video_levels: int, text_levels: int) -> tuple[int, ...]:
    """The text level paired with each video level: the same index, or 0 for every level when Kt == 1."""
    if text_levels == 1:
        return (0,) * len(levels)
    if text_levels != video_levels:
        raise UserError(
            f"field 'text_levels': SDST pairs text and video levels, so it needs 1 or {video_levels} text levels, "
            f"got {text_levels}"
        )
    return levels


def build(config: dict[str, Any], dims: dict[str, int]) -> SDST:
    """The registry's entry point (vtg/models.py, name "sdst"): a ``model:`` section and the data dims."""
    for key in DIM_KEYS:
        value = dims.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UserError(f"field '{key}': SDST needs a positive integer, got {value!r}")
    return SDST(SDSTConfig.from_dict(config), dims)
