"""Model registry: a model's name to the function that builds it, imported only when asked for.

``vtg`` must not import the model packages at module level (DESIGN.md: imports flow one way), so the
registry holds import paths, not objects.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from vtg.errors import UserError

MODEL_BUILDERS: dict[str, str] = {
    "spikingvtg": "spiking.model:build",
    "sdst": "sdst_teacher.sdst.model:build",
    "univtg": "sdst_teacher.univtg.model:build",
}

# the config class of each model, whose from_dict(section) checks a model: section without building anything
MODEL_CONFIGS: dict[str, str] = {
    "spikingvtg": "spiking.config:SpikingVTGConfig",
    "sdst": "sdst_teacher.sdst.config:SDSTConfig",
    "univtg": "sdst_teacher.univtg.config:UniVTGConfig",
}


def _registered(name: str, table: dict[str, str]) -> Any:
    if name not in table:
        raise UserError(f"field 'model': unknown model {name!r} (choose from {', '.join(table)})")
    module, attribute = table[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def check_model_config(name: str, config: dict[str, Any]) -> None:
    """Check the ``model:`` section of model ``name`` field by field (a :class:`UserError` naming the field).

    A model registered without a config class (a test's) is checked only when it is built.
    """
    _registered(name, MODEL_BUILDERS)
    full_model_config(name, config)


def full_model_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with every default of model ``name``'s config class written out (``config`` itself for a
    model without one), so that two sections that build the same model compare equal."""
    if name not in MODEL_CONFIGS:
        return dict(config)
    return dataclasses.asdict(_registered(name, MODEL_CONFIGS).from_dict(config))


def idle_fields(name: str, config: dict[str, Any]) -> dict[str, str]:
    """Fields of model ``name``'s section that have no effect under the rest of it -> why (empty for a model
    whose config class does not say)."""
    config_class = _registered(name, MODEL_CONFIGS) if name in MODEL_CONFIGS else None
    if config_class is None or not hasattr(config_class, "idle_fields"):
        return {}
    return config_class.from_dict(config).idle_fields()


def build_model(name: str, config: dict[str, Any], dims: dict[str, int]):
    """Build the model registered as ``name`` from its config section and the data dimensions."""
    return _registered(name, MODEL_BUILDERS)(config, dims)
