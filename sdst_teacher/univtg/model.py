"""The UniVTG-style teacher: token embeddings, N post-norm encoder layers, clip-wise heads, losses.

Token layout (also of ``hidden_states`` and ``attentions``): for a batch with Lv clips and Lq text
tokens the encoder runs over L = Lv + Lq tokens, video first::

    index:  0 ... Lv-1 | Lv ... Lv+Lq-1
    token:  clip 0..   | text token 0..
    mask:   video_mask | text_mask        (padded tokens are never attended to)

``forward(batch)`` returns ``foreground_logits`` (B, Lv), ``boundary`` (B, Lv, 2) = (ds, de) in clip
units (between 0 and the video's number of clips), ``saliency`` (B, Lv) = cos(clip token, pooled
sentence) with 0 on padded clips, and for the losses ``video_features`` (B, Lv, D) and ``sentence``
(B, D). ``return_hidden=True`` adds ``hidden_states`` (one (B, L, D) per layer: that layer's output
after its second LayerNorm) and ``attentions`` (one (B, H, L, L) per layer: softmax probabilities,
rows sum to 1 over real keys).
Only the last level of multi-level features is used: ``video[:, :, -1]`` and ``text[:, :, -1]``.

With ``saliency_from: input`` (UniVTG's choice) saliency, ``video_features`` and ``sentence`` come from
the projected input tokens (token types added, before the encoder) rather than the encoder's output.
``configs/univtg_official.yaml`` sets every switch to UniVTG's (:mod:`sdst_teacher.univtg.config`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sdst_teacher.univtg.config import UniVTGConfig
from sdst_teacher.univtg.embeddings import TokenEmbedding
from sdst_teacher.univtg.encoder_layer import EncoderLayer
from sdst_teacher.univtg.heads import BoundaryHead, ConvHead, SaliencyHead
from vtg.errors import UserError
from vtg.losses.clipwise import ClipwiseCriterion
from vtg.postprocess.predictions import batch_predictions


class UniVTG(nn.Module):
    """UniVTG-style clip-wise grounding model (see the module docstring for inputs, outputs and layout)."""

    def __init__(self, config: UniVTGConfig, video_dim: int, text_dim: int):
        super().__init__()
        self.config = config
        self.video_dim, self.text_dim = video_dim, text_dim
        dim = config.hidden_dim
        self.embedding = TokenEmbedding(
            video_dim,
            text_dim,
            dim,
            config.input_proj_layers,
            config.input_dropout,
            video_tef=config.video_tef,
            positions=config.positions,
        )
        self.layers = nn.ModuleList(
            EncoderLayer(dim, config.num_heads, config.ffn_dim, config.dropout, config.droppath)
            for _ in range(config.num_layers)
        )
        masked = config.heads_mask_padding
        self.foreground_head = ConvHead(dim, 1, config.head_layers, config.head_kernel, masked)
        self.boundary_head = BoundaryHead(dim, config.head_layers, config.head_kernel, masked)
        self.saliency_head = SaliencyHead(dim)
        self.criterion = ClipwiseCriterion(config)

    def _check_inputs(self, video: torch.Tensor, text: torch.Tensor) -> None:
        # a checkpoint applied to features of another backbone is a user mistake, not a crash
        if video.shape[-1] != self.video_dim:
            raise UserError(f"field 'video_dim': model expects {self.video_dim}, batch has {video.shape[-1]}")
        if text.shape[-1] != self.text_dim:
            raise UserError(f"field 'text_dim': model expects {self.text_dim}, batch has {text.shape[-1]}")

    def forward(self, batch: dict[str, Any], return_hidden: bool = False) -> dict[str, Any]:
        video = batch["video"][:, :, -1]  # (B, Lv, Dv)
        text = batch["text"][:, :, -1]  # (B, Lq, Dt)
        self._check_inputs(video, text)
        video_mask, text_mask = batch["video_mask"], batch["text_mask"]  # (B, Lv), (B, Lq)
        num_clips = video.shape[1]

        x, positions = self.embedding(video, text, video_mask)  # (B, L, D) each, L = Lv + Lq
        projected = x  # the encoder's input, scored for saliency with saliency_from: input
        mask = torch.cat([video_mask, text_mask], dim=1)  # (B, L)
        hidden_states, attentions = [], []
        for layer in self.layers:
            x, probs = layer(x, positions, mask)  # (B, L, D), (B, H, L, L)
            hidden_states.append(x)
            attentions.append(probs)

        video_h = x[:, :num_clips]  # (B, Lv, D)
        scored = projected if self.config.saliency_from == "input" else x  # (B, L, D)
        video_s, text_s = scored[:, :num_clips], scored[:, num_clips:]  # (B, Lv, D), (B, Lq, D)
        saliency, sentence = self.saliency_head(video_s, video_mask, text_s, text_mask)  # (B, Lv), (B, D)
        outputs: dict[str, Any] = {
            "foreground_logits": self.foreground_head(video_h, video_mask).squeeze(-1),  # (B, Lv)
            "boundary": self.boundary_head(video_h, video_mask),  # (B, Lv, 2)
            "saliency": saliency,
            "video_features": video_s,
            "sentence": sentence,
        }
        if return_hidden:
            outputs["hidden_states"] = hidden_states
            outputs["attentions"] = attentions
        return outputs

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """UniVTG's clip-wise losses (:mod:`vtg.losses.clipwise`); ``total`` is back-propagated."""
        return self.criterion(outputs, batch)

    @torch.no_grad()
    def predict(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, Any]]:
        """Official prediction dicts (SpikingVTG paper, Sec. 3), real clips only.

        MR: clip i proposes [t_i - ds_i, t_i + de_i] (seconds, clamped to the video) scored by
        sigmoid(f_i); 1-D NMS at ``nms_threshold`` keeps the best ``max_windows``. HD: sigmoid(f_i) + s_i.
        """
        foreground = outputs["foreground_logits"].sigmoid()  # (B, Lv)
        return batch_predictions(
            batch,
            foreground,
            self.window_boundary(batch, outputs),
            foreground + outputs["saliency"],
            nms_threshold=self.config.nms_threshold,
            max_windows=self.config.max_windows,
        )

    def window_boundary(self, batch: dict[str, Any], outputs: dict[str, Any]) -> torch.Tensor:
        """(B, Lv, 2) distances from the clip centres that :meth:`predict` turns into windows: the boundary
        head's, or UniVTG's own decoding re-expressed around the centres (``official_decoding``)."""
        if self.config.official_decoding:
            return official_boundaries(batch, outputs["boundary"])
        return outputs["boundary"]


def official_boundaries(batch: dict[str, Any], boundary: torch.Tensor) -> torch.Tensor:
    """(B, Lv, 2) distances from the clip centres (i + 0.5) that give UniVTG's own windows.

    UniVTG's inference decodes clip i of a video of n clips, duration T and clip length c seconds as
    [(i + c/2 - ds_i) T / n, (i + c/2 + de_i) T / n] seconds: its anchor adds c/2 *seconds* to a clip index
    (a clip's end for QVHighlights' 2-s clips) and it scales by T rather than n c. The released weights
    learned their offsets from that anchor, so their windows are reproduced by re-expressing them around
    the centres the shared post-processing uses; the distances may then be negative, which it allows.
    """
    # in float32 whatever the model ran in: bf16 (mixed precision) holds 8 significant bits, so a duration
    # of 143.7 s would read 144 and windows of long videos move by a second
    boundary = boundary.float()
    lengths = batch["video_mask"].sum(dim=1).clamp(min=1).to(boundary.dtype)  # (B,)
    clip_len = torch.tensor([float(m["clip_len"]) for m in batch["meta"]], dtype=boundary.dtype)  # (B,)
    duration = torch.tensor([float(m["duration"]) for m in batch["meta"]], dtype=boundary.dtype)  # (B,)
    clip_len, duration = clip_len.to(boundary.device), duration.to(boundary.device)
    scale = (duration / (lengths * clip_len))[:, None]  # (B, 1): seconds per UniVTG unit over seconds per clip
    centre = torch.arange(boundary.shape[1], device=boundary.device, dtype=boundary.dtype)[None] + 0.5  # (1, Lv)
    anchor = centre - 0.5 + clip_len[:, None] / 2  # (B, Lv): i + c/2
    start = (anchor - boundary[..., 0]) * scale  # (B, Lv) in clip units of the shared post-processing
    end = (anchor + boundary[..., 1]) * scale  # (B, Lv)
    return torch.stack([centre - start, end - centre], dim=-1)  # (B, Lv, 2)


def build(config: dict[str, Any], dims: dict[str, int]) -> UniVTG:
    """Registry entry ``univtg``: ``config`` is the ``model:`` section, ``dims`` the data dimensions."""
    return UniVTG(UniVTGConfig.from_dict(config), video_dim=int(dims["video_dim"]), text_dim=int(dims["text_dim"]))
