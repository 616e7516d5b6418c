"""The ``model:`` section of a config: which registered model, and its hyper-parameters."""

from __future__ import annotations

import sys
from typing import Any

from vtg.config import located
from vtg.errors import UserError
from vtg.models import check_model_config, idle_fields


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
    fields = {key: value for key, value in section.items() if key != "name"}
    try:
        # every field checked now, before any data is read or any work done
        check_model_config(str(name), fields)
    except UserError as error:
        raise located(source, error) from None
    for field, why in idle_fields(str(name), fields).items():
        print(f"note: {source}: field 'model.{field}': {why}", file=sys.stderr)
    return str(name), fields
