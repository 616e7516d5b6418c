"""Model registry: a model's name to the function that builds it, imported only when asked for.

``vtg`` must not import the model packages at module level (DESIGN.md: imports flow one way), so the
registry holds import paths, not objects.
"""

from __future__ import annotations

import importlib
from typing import Any

from vtg.errors import UserError

MODEL_BUILDERS: dict[str, str] = {
    "spikingvtg": "spiking.model:build",
    "sdst": "sdst_teacher.sdst.model:build",
    "univtg": "sdst_teacher.univtg.model:build",
}


def build_model(name: str, config: dict[str, Any], dims: dict[str, int]):
    """Build the model registered as ``name`` from its config section and the data dimensions."""
    if name not in MODEL_BUILDERS:
        raise UserError(f"field 'model': unknown model {name!r} (choose from {', '.join(MODEL_BUILDERS)})")
    module, function = MODEL_BUILDERS[name].split(":")
    return getattr(importlib.import_module(module), function)(config, dims)
