"""The ``model:`` section of a config: which registered model, and its hyper-parameters."""

from __future__ import annotations

from typing import Any

from vtg.errors import UserError


def model_section(config: dict[str, Any], name: str | None, source: str) -> tuple[str, dict[str, Any]]:
    """The model's name (``name``, from ``--model``, over ``model.name``) and its section without ``name``.

    ``config`` is the whole config mapping and ``source`` the file it came from (named in errors).
    """
    section = config.get("model", {})
    if not isinstance(section, dict):
        raise UserError(f"{source}: field 'model': expected a mapping, got {type(section).__name__}")
    name = name or section.get("name")
    if not name:
        raise UserError(f"{source}: field 'model.name': missing (or give --model)")
    return str(name), {key: value for key, value in section.items() if key != "name"}
