"""SDST's configuration: every key of the ``model:`` section, its default (the paper's Table A) and its checks.

Keys that select the paper's ablations:

- ``sparse_attention``: how the sparse stream reads the video (Tab. 5): ``rdsa`` (Eq. 10-11),
  ``deformable_ca`` (Eq. 7-9, offsets from the decoder queries) or ``standard_ca`` (Eq. 24-25).
- ``rdsa_points``: which embeddings RDSA samples to build its query (Tab. M): ``c``, ``l-r`` or ``l-c-r``;
  ``rdsa_cnn``: the context CNN of Eq. 10 on or off.
- ``shared_levels``: one SDST layer for all K levels (the paper) or one per level (Tab. J).
- ``levels``: which backbone levels are refined, as indices into the batch's K video levels; its length is
  the number of refinement steps K (Fig. 3, Tab. 4). Indices may repeat: ``[-1, -1, -1, -1]`` is Fig. 3's
  "last-layer features only" curve. ``null`` means every level in order.
- ``conditioning``: the dense signal given to the sparse stream (Tab. 6): ``raw`` (V^l of Eq. 2),
  ``ca``, ``sa`` or ``ffn`` (after that module of Eq. 4).
- ``sparse_order``: the modules of the sparse stream in order (Tab. 7 and N), from ``ca`` (text
  cross-attention), ``sa`` (self-attention among queries), ``def`` (the video attention chosen by
  ``sparse_attention``) and ``ffn``.
- ``actionness``: the actionness head, its loss (Eq. 20) and its factor in the ranking score (Eq. 23); off,
  queries are ranked by p alone (Tab. E's "w/o L_act"). ``loss_act: 0`` with the head on is refused: Eq. 23
  would rank by an untrained head.
- ``cls_normalization``: the focal loss (Eq. 17) averaged over the queries (``queries``, Eq. 17's 1/M) or
  summed over them and divided by the batch's ground-truth moments (``boxes``, the DETR practice of [19, 23]
  that SDST builds on: M / M* times stronger against the L1 and IoU terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from vtg.config import known_fields
from vtg.errors import UserError

SPARSE_ATTENTIONS = ("rdsa", "deformable_ca", "standard_ca")
RDSA_POINTS = {"c": ("c",), "l-r": ("l", "r"), "l-c-r": ("l", "c", "r")}
CONDITIONINGS = ("raw", "ca", "sa", "ffn")
SPARSE_MODULES = ("ca", "sa", "def", "ffn")
NMS_METHODS = ("gaussian", "linear")
CLS_NORMALIZATIONS = ("queries", "boxes")


@dataclass(frozen=True)
class SDSTConfig:
    """The model section; defaults are the ``sdst_paper`` preset (Table A of the paper)."""

    hidden_dim: int = 256
    num_heads: int = 8
    ffn_ratio: int = 4
    dropout: float = 0.5
    droppath: float = 0.25
    num_queries: int = 30
    levels: tuple[int, ...] | None = None
    shared_levels: bool = True
    sparse_attention: str = "rdsa"
    rdsa_points: str = "l-c-r"
    rdsa_cnn: bool = True
    rdsa_cnn_hidden: int = 256
    rdsa_latent_dim: int = 64
    deformable_points: int = 4
    conditioning: str = "ffn"
    sparse_order: tuple[str, ...] = ("ca", "sa", "def", "ffn")
    actionness: bool = True
    roi_size: int = 16
    roi_scale: float = 0.0
    temperature: float = 0.07
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    cls_normalization: str = "queries"
    loss_saliency: float = 0.1
    loss_cls: float = 1.0
    loss_l1: float = 1.0
    loss_iou: float = 1.0
    loss_act: float = 1.0
    loss_align_video: float = 0.1
    loss_align_layer: float = 0.1
    loss_hd: float = 1.0
    loss_mr: float = 1.0
    loss_align: float = 1.0
    match_cls: float = 1.0
    match_l1: float = 1.0
    match_iou: float = 1.0
    nms_method: str = "gaussian"
    nms_sigma: float = 0.5
    nms_threshold: float = 0.3
    max_windows: int = 10

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> SDSTConfig:
        """Check every key of ``config`` (a ``model:`` section) and fill the rest from the defaults.

        A bad key or value raises :class:`UserError` naming ``model.<key>``.
        """
        known = sorted(f.name for f in fields(cls))
        values = known_fields(config, known, "model")
        defaults = cls()
        checked = {name: _check(name, values.get(name, getattr(defaults, name))) for name in known}
        if checked["hidden_dim"] % checked["num_heads"]:
            hidden, heads = checked["hidden_dim"], checked["num_heads"]
            raise _fail("num_heads", f"must divide model.hidden_dim ({hidden}), got {heads}")
        if checked["hidden_dim"] % 4:
            raise _fail("hidden_dim", "must be a multiple of 4 (sine-cosine pairs for each of a reference's c and w)")
        if checked["actionness"] and checked["loss_act"] == 0:
            raise _fail(
                "loss_act",
                "0 leaves the actionness head untrained while Eq. 23 ranks by it (set model.actionness: false)",
            )
        return cls(**checked)


def _fail(name: str, message: str) -> UserError:
    return UserError(f"field 'model.{name}': {message}")


def _check(name: str, value: Any) -> Any:
    """Validate one field; return the value in its canonical type."""
    if name in {"hidden_dim", "num_heads", "ffn_ratio", "num_queries", "rdsa_cnn_hidden", "rdsa_latent_dim"}:
        return _positive_int(name, value)
    if name in {"deformable_points", "roi_size", "max_windows"}:
        return _positive_int(name, value)
    if name in {"dropout", "droppath"}:
        number = _number(name, value)
        if not 0.0 <= number < 1.0:
            raise _fail(name, f"expected a probability in [0, 1), got {value!r}")
        return number
    if name in {"shared_levels", "rdsa_cnn", "actionness"}:
        if not isinstance(value, bool):
            raise _fail(name, f"expected true or false, got {value!r}")
        return value
    if name == "levels":
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not value or not all(_is_int(v) for v in value):
            raise _fail(name, f"expected null or a non-empty list of level indices, got {value!r}")
        return tuple(int(v) for v in value)
    if name == "sparse_order":
        if not isinstance(value, (list, tuple)) or not value:
            raise _fail(name, f"expected a non-empty list from {list(SPARSE_MODULES)}, got {value!r}")
        for module in value:
            if module not in SPARSE_MODULES:
                raise _fail(name, f"unknown module {module!r} (choose from {', '.join(SPARSE_MODULES)})")
        if len(set(value)) != len(value):
            raise _fail(name, f"each module may appear once, got {list(value)!r}")
        return tuple(value)
    choices = {
        "sparse_attention": SPARSE_ATTENTIONS,
        "rdsa_points": tuple(RDSA_POINTS),
        "conditioning": CONDITIONINGS,
        "nms_method": NMS_METHODS,
        "cls_normalization": CLS_NORMALIZATIONS,
    }
    if name in choices:
        if value not in choices[name]:
            raise _fail(name, f"expected one of {', '.join(choices[name])}, got {value!r}")
        return value
    if name in {"temperature", "nms_sigma"}:
        number = _number(name, value)
        if number <= 0:
            raise _fail(name, f"expected a positive number, got {value!r}")
        return number
    if name in {"focal_alpha", "nms_threshold"}:
        number = _number(name, value)
        if not 0.0 <= number <= 1.0:
            raise _fail(name, f"expected a number in [0, 1], got {value!r}")
        return number
    # Loss and matching weights, focal gamma and the RoI context scale: non-negative numbers.
    number = _number(name, value)
    if number < 0:
        raise _fail(name, f"expected a non-negative number, got {value!r}")
    return number


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(name: str, value: Any) -> int:
    if not _is_int(value) or value <= 0:
        raise _fail(name, f"expected a positive integer, got {value!r}")
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(name, f"expected a finite number, got {value!r}")
    return float(value)
