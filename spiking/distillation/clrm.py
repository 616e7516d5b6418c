"""Cos-L2 representation matching (CLRM): the distillation loss of SpikingVTG (paper Sec. 4.5.1, Eq. 6).

For every mapped pair (student layer i, teacher layer m(i)), with a*_i (B, L, d_s) the student's
equilibrium ASR, s = a*_i W_d,i (B, L, d_t) its projection by a learnable W_d,i (one per mapped layer,
no bias, as the paper's s = a* W_d) and t = T_m(i) (B, L, d_t) the teacher's hidden state::

    l(s, t) = lambda_cos (1 - cos(s, t))^2 + lambda_l2 ||s - t||_2^2          per token      (Eq. 6)
    L_rep   = mean over mapped layers of [ sum over real tokens (b, k) of l(s_bk, t_bk) / #real tokens ]
    L_att   = the same on attention rows: for head h and query token k, the row A_i[b, h, k, :] of the
              student's attention map against the teacher's A_m(i)[b, h, k, :], keys restricted to real
              tokens, no projection (both are maps over the same tokens)
    L_CLRM  = rep_weight L_rep + att_weight L_att                         (the paper: L_rep + L_att)

Deviations and choices, where the paper is silent or the layouts differ:

* The paper sums over layers and divides by B x L; we average over mapped layers and over the real
  (unpadded) tokens, so the lambdas do not depend on the number of layers or on padding.
* Token map (``tokens``): ``all`` compares every token, the layout of the student and of the
  UniVTG-style teacher (L = Lv + Lq, video first); ``video`` compares the first Lv tokens of both, the
  hidden rows and the video-to-video block of the attention maps: all a teacher with only video tokens
  has (SDST's dense stream, L = Lv), and the clip tokens alone of a UniVTG-style teacher; ``auto``
  picks ``video`` or ``all`` by the teacher's sequence length.
  In the ``video`` block the student's rows are not renormalised: the cosine term matches the
  pattern, the L2 term also asks the student to put its attention mass on the video keys, as SDST does.
* Centring (``center: true``, our option, off by default): L_rep compares s - mean(s) with t - mean(t),
  means over each sample's compared real tokens. A trained teacher's token states share much of a
  per-video component (the UniVTG-style demo teacher: 64% of a last-layer clip state's squared norm,
  cos(clip, video mean) = 0.8), which a student can match without learning what tells clips apart;
  centring leaves the part that carries saliency and boundaries. Attention rows are not centred.
* Heads: when student and teacher have the same number of heads, head h is matched with head h;
  otherwise both maps are averaged over heads first (mean over heads) and the means are matched.
* Layer map (``layer_map``): ``{student layer: teacher layer}`` (0-based; the teacher's SDST levels
  count as its layers), or ``uniform``: student layer i of N_s goes to teacher layer
  floor((i + 1) N_t / N_s) - 1, evenly spaced with last matched to last (TinyBERT's uniform map).
* The student's attention is its mean over Tc in evaluation; in training by implicit differentiation
  it is the steady-state attention at equilibrium (the product of the equilibrium rates, Eq. 4), the
  differentiable counterpart of that mean (spiking/model.py, ``at_equilibrium``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vtg.errors import UserError, check_number

TOKEN_MAPS = ("auto", "all", "video")


@dataclasses.dataclass(frozen=True)
class CLRMConfig:
    """The loss part of a ``distill:`` section (its schedule lives in spiking/distillation/recipe.py)."""

    layer_map: Any = "uniform"  # "uniform" or {student layer: teacher layer}
    tokens: str = "auto"  # auto | all | video
    lambda_cos: float = 1.0
    lambda_l2: float = 1.0
    rep_weight: float = 1.0
    att_weight: float = 1.0
    center: bool = False  # L_rep on token states minus their sequence's mean (module docstring)

    @classmethod
    def from_dict(cls, section: dict[str, Any], source: str) -> CLRMConfig:
        """Pick this class's fields from the ``distill:`` section of config file ``source`` and check them."""
        values = {f.name: section[f.name] for f in dataclasses.fields(cls) if f.name in section}
        for name in ("lambda_cos", "lambda_l2", "rep_weight", "att_weight"):
            if name in values:
                values[name] = check_number(values[name], f"{source}: field 'distill.{name}'")
                if values[name] < 0:
                    raise UserError(f"{source}: field 'distill.{name}': must be >= 0, got {values[name]}")
        if not isinstance(values.get("center", False), bool):
            raise UserError(f"{source}: field 'distill.center': expected true or false, got {values['center']!r}")
        if values.get("tokens", "auto") not in TOKEN_MAPS:
            raise UserError(
                f"{source}: field 'distill.tokens': must be one of {', '.join(TOKEN_MAPS)}, got {values['tokens']!r}"
            )
        layer_map = values.get("layer_map", "uniform")
        if layer_map != "uniform" and not isinstance(layer_map, dict):
            raise UserError(
                f"{source}: field 'distill.layer_map': expected 'uniform' or a mapping {{student: teacher}}, "
                f"got {layer_map!r}"
            )
        return cls(**values)


def resolve_layer_map(spec: Any, num_student: int, num_teacher: int, source: str) -> dict[int, int]:
    """``{student layer: teacher layer}`` from ``uniform`` or a mapping, checked against both layer counts.

    With ``uniform`` and fewer teacher than student layers, the first student layers map to no layer.
    """
    if spec == "uniform":
        uniform = {i: (i + 1) * num_teacher // num_student - 1 for i in range(num_student)}
        return {i: m for i, m in uniform.items() if m >= 0}
    resolved: dict[int, int] = {}
    for key, value in spec.items():
        pair = []
        for item, count, side in ((key, num_student, "student"), (value, num_teacher, "teacher")):
            if isinstance(item, str) and item.isdigit():
                item = int(item)
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < count:
                raise UserError(
                    f"{source}: field 'distill.layer_map': {key!r}: {value!r}: {side} layer {item!r} is not in "
                    f"0..{count - 1} (the {side} has {count} layers)"
                )
            pair.append(item)
        resolved[pair[0]] = pair[1]
    if not resolved:
        raise UserError(f"{source}: field 'distill.layer_map': maps no layer")
    return resolved


def cos_l2(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, lambda_cos: float, lambda_l2: float):
    """Eq. 6 per row, averaged over the rows where ``mask`` is True.

    ``student``, ``teacher``: (..., N, D) rows of D features; ``mask``: bool, broadcastable to (..., N).
    """
    cos = F.cosine_similarity(student, teacher, dim=-1, eps=1e-8)  # (..., N)
    squared = (student - teacher).pow(2).sum(dim=-1)  # (..., N)
    per_row = lambda_cos * (1.0 - cos).pow(2) + lambda_l2 * squared  # (..., N)
    weight = mask.to(per_row.dtype).expand_as(per_row)  # (..., N)
    return (per_row * weight).sum() / weight.sum().clamp(min=1.0)


def centered(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``states`` (B, L, D) minus, per sample, their mean over its real tokens (``mask`` (B, L))."""
    weight = mask.to(states.dtype)[:, :, None]  # (B, L, 1)
    mean = (states * weight).sum(dim=1, keepdim=True) / weight.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, 1, D)
    return states - mean


def match_heads(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Head h to head h when H_s == H_t, else both means over heads: (B, H_s, L, L), (B, H_t, L, L)."""
    if student.shape[1] == teacher.shape[1]:
        return student, teacher
    return student.mean(dim=1, keepdim=True), teacher.mean(dim=1, keepdim=True)  # (B, 1, L, L) each


class CLRMLoss(nn.Module):
    """L_CLRM between the student's and the teacher's ``hidden_states`` and ``attentions``.

    Args:
        layer_map: ``{student layer: teacher layer}`` (resolved, see :func:`resolve_layer_map`).
        student_dim, teacher_dim: d_s and d_t; W_d,i is ``projections[str(i)]``, d_s -> d_t.
        config: lambdas, weights and token map.

    ``forward(student_outputs, teacher_outputs, batch)`` returns ``clrm`` (the weighted sum),
    ``clrm_rep`` and ``clrm_att``.
    """

    def __init__(self, layer_map: dict[int, int], student_dim: int, teacher_dim: int, config: CLRMConfig):
        super().__init__()
        self.layer_map = dict(layer_map)
        self.config = config
        self.projections = nn.ModuleDict(
            {str(i): nn.Linear(student_dim, teacher_dim, bias=False) for i in sorted(self.layer_map)}
        )

    def token_mask(self, batch: dict[str, Any], teacher_length: int) -> torch.Tensor:
        """Real tokens of the compared layout: video only (B, Lv), or video then text (B, Lv + Lq)."""
        video_mask, text_mask = batch["video_mask"], batch["text_mask"]  # (B, Lv), (B, Lq)
        lv, lq = video_mask.shape[1], text_mask.shape[1]
        tokens = self.config.tokens
        if tokens == "auto":
            tokens = {lv: "video", lv + lq: "all"}.get(teacher_length, "auto")
        fits = teacher_length in (lv, lv + lq) if tokens == "video" else teacher_length == lv + lq
        if tokens == "auto" or not fits:
            raise UserError(
                f"field 'distill.tokens': the teacher's {teacher_length} tokens fit neither the video tokens "
                f"({lv}) nor video and text ({lv + lq}) of the batch (token map {self.config.tokens!r})"
            )
        return video_mask if tokens == "video" else torch.cat([video_mask, text_mask], dim=1)

    def forward(self, student: dict[str, Any], teacher: dict[str, Any], batch: dict[str, Any]):
        cfg = self.config
        rep_terms, att_terms = [], []
        for i, m in self.layer_map.items():
            mask = self.token_mask(batch, teacher["hidden_states"][m].shape[1])  # (B, L): the compared tokens
            length = mask.shape[1]
            target = teacher["hidden_states"][m][:, :length]  # (B, L, d_t)
            projected = self.projections[str(i)](student["hidden_states"][i][:, :length])  # (B, L, d_t)
            if cfg.center:
                projected, target = centered(projected, mask), centered(target, mask)
            rep_terms.append(cos_l2(projected, target, mask, cfg.lambda_cos, cfg.lambda_l2))

            keys = mask[:, None, None, :].to(target.dtype)  # (B, 1, 1, L): padded keys take no part
            s_att, t_att = match_heads(
                student["attentions"][i][:, :, :length, :length], teacher["attentions"][m][:, :, :length, :length]
            )
            att_terms.append(cos_l2(s_att * keys, t_att * keys, mask[:, None, :], cfg.lambda_cos, cfg.lambda_l2))
        rep = torch.stack(rep_terms).mean()
        att = torch.stack(att_terms).mean()
        return {"clrm": cfg.rep_weight * rep + cfg.att_weight * att, "clrm_rep": rep, "clrm_att": att}
