"""The ``model:`` section of a UniVTG-style teacher config, checked field by field.

Defaults are UniVTG's own (showlab/UniVTG ``main/config.py`` and its QVHighlights script): hidden 1024,
4 post-norm encoder layers of 8 heads with a GELU feed-forward of 1024, 2-layer input projections with
input dropout 0.5, drop-path 0.1, conv heads of 3 layers with kernel 3; the loss weights and NMS are
the fields every clip-wise model shares (:class:`~vtg.losses.clipwise_config.ClipwiseHeadConfig`).

Five switches make the model exactly the released UniVTG (``configs/univtg_official.yaml``, and
``vtg teacher import --from univtg``); their defaults keep the project's own variant:

- ``video_tef``: append the temporal endpoint feature (i/n, (i+1)/n) to each real clip's features, as
  UniVTG's ``ctx_mode: video_tef`` (the projection then reads video_dim + 2 channels);
- ``positions``: ``index`` (sinusoid of the clip index) or ``normalized`` (sinusoid of 2 pi (i+1)/n,
  UniVTG's ``PositionEmbeddingSine(normalize=True)``);
- ``saliency_from``: ``encoder`` (cosine of encoded clip and sentence tokens) or ``input`` (of the
  projected input tokens before the encoder, as UniVTG scores saliency);
- ``heads_mask_padding``: zero padded clips before the conv heads (outputs independent of the batch's
  padding); UniVTG does not, so a short video's last clip sees the padded clips' encoded tokens;
- ``official_decoding``: windows as UniVTG's inference decodes them: anchored at (i + clip_len/2)/n of the
  duration (clip_len in seconds, so 2-s clips anchor at a clip's end) and scaled by the duration.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vtg.config import dataclass_fields_from_mapping
from vtg.errors import UserError
from vtg.losses.clipwise_config import ClipwiseHeadConfig


@dataclasses.dataclass(frozen=True)
class UniVTGConfig(ClipwiseHeadConfig):
    """Sizes, regularisation, loss weights and post-processing of :class:`~sdst_teacher.univtg.model.UniVTG`."""

    hidden_dim: int = 1024
    num_layers: int = 4
    num_heads: int = 8
    ffn_dim: int = 1024
    input_proj_layers: int = 2
    input_dropout: float = 0.5
    dropout: float = 0.0  # inside attention and feed-forward
    droppath: float = 0.1  # stochastic depth on each residual branch
    head_layers: int = 3
    head_kernel: int = 3
    video_tef: bool = False
    positions: str = "index"
    saliency_from: str = "encoder"
    heads_mask_padding: bool = True
    official_decoding: bool = False

    @classmethod
    def from_dict(cls, section: dict[str, Any], where: str = "model") -> UniVTGConfig:
        """Build from a config mapping; unknown fields, wrong types and bad ranges are :class:`UserError`.

        ``name`` (the registry key) is accepted and ignored.
        """
        values = dataclass_fields_from_mapping(cls, section, where)
        config = cls(**values)
        config._check_ranges(where)
        return config

    def _check_ranges(self, where: str) -> None:
        self.check_clipwise_fields(where)
        counts = ["hidden_dim", "num_layers", "num_heads", "ffn_dim", "input_proj_layers", "head_layers"]
        for name in counts:
            if getattr(self, name) < 1:
                raise UserError(f"field '{where}.{name}': must be at least 1, got {getattr(self, name)}")
        if self.hidden_dim % self.num_heads:
            raise UserError(
                f"field '{where}.hidden_dim': {self.hidden_dim} is not divisible by num_heads={self.num_heads}"
            )
        if self.head_kernel < 1 or self.head_kernel % 2 == 0:
            raise UserError(f"field '{where}.head_kernel': must be odd (one output per clip), got {self.head_kernel}")
        choices = {"positions": ("index", "normalized"), "saliency_from": ("encoder", "input")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UserError(
                    f"field '{where}.{name}': must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        for name in ["input_dropout", "dropout", "droppath"]:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"field '{where}.{name}': must be in [0, 1), got {getattr(self, name)}")
