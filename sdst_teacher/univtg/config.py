"""The ``model:`` section of a UniVTG-style teacher config, checked field by field.

Defaults are UniVTG's own (showlab/UniVTG ``main/config.py`` and its QVHighlights script): hidden 1024,
4 post-norm encoder layers of 8 heads with a GELU feed-forward of 1024, 2-layer input projections with
input dropout 0.5, drop-path 0.1, conv heads of 3 layers with kernel 3; the loss weights and NMS are
the fields every clip-wise model shares (:class:`~vtg.losses.clipwise_config.ClipwiseHeadConfig`).
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
        for name in ["input_dropout", "dropout", "droppath"]:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"field '{where}.{name}': must be in [0, 1), got {getattr(self, name)}")
