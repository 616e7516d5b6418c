"""The loss weights and post-processing fields that every clip-wise model's ``model:`` section shares.

SpikingVTG (:mod:`spiking.config`) and the UniVTG-style teacher (:mod:`sdst_teacher.univtg.config`)
both train with UniVTG's clip-wise losses (:mod:`vtg.losses.clipwise`) and decode windows the same way;
their config dataclasses inherit these fields, with UniVTG's defaults: b = 10, g = 1, f = 10,
background weight (UniVTG's ``eos_coef``) 0.1, NCE temperature 0.07, NMS at 0.7. The two saliency
weights (0.1 each) are ours: UniVTG's scripts switch these terms on or off per dataset.
"""

from __future__ import annotations

import dataclasses

from vtg.errors import UserError

NON_NEGATIVE = ("loss_boundary", "loss_giou", "loss_foreground", "loss_saliency_inter", "loss_saliency_intra")


@dataclasses.dataclass(frozen=True)
class ClipwiseHeadConfig:
    """total = b * smooth-L1 + g * GIoU + f * BCE + inter * L_inter + intra * L_intra; then NMS."""

    loss_boundary: float = 10.0
    loss_giou: float = 1.0
    loss_foreground: float = 10.0
    background_weight: float = 0.1
    loss_saliency_inter: float = 0.1
    loss_saliency_intra: float = 0.1
    temperature: float = 0.07
    # prediction
    nms_threshold: float = 0.7
    max_windows: int = 10

    def check_clipwise_fields(self, where: str) -> None:
        """A :class:`UserError` naming ``{where}.{field}`` for the first of these fields out of its range."""

        def fail(name: str, message: str) -> None:
            raise UserError(f"field '{where}.{name}': {message}, got {getattr(self, name)!r}")

        for name in NON_NEGATIVE:
            if getattr(self, name) < 0:
                fail(name, "must be >= 0")
        for name in ("background_weight", "nms_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(name, "must be in [0, 1]")
        if self.temperature <= 0:
            fail("temperature", "must be > 0")
        if self.max_windows < 1:
            fail("max_windows", "must be >= 1")
