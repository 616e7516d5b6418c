"""The UniVTG-style teacher's criterion: UniVTG's clip-wise losses (:mod:`vtg.losses.clipwise`) with the
weights of its config (``loss_boundary``, ``loss_giou``, ``loss_foreground``, ``background_weight``,
``loss_saliency_inter``, ``loss_saliency_intra``, ``temperature``)."""

from __future__ import annotations

from sdst_teacher.univtg.config import UniVTGConfig
from vtg.losses.clipwise import ClipwiseCriterion


class UniVTGCriterion(ClipwiseCriterion):
    """``model.loss`` of the UniVTG-style teacher (the terms and equations: :mod:`vtg.losses.clipwise`)."""

    def __init__(self, config: UniVTGConfig):
        super().__init__(config.loss_weights())
