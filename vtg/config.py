"""YAML configs: loading with clear errors, and using a config's keys as command-line defaults."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import yaml

from vtg.errors import UserError, check_number


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or bad YAML is a :class:`UserError` naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}{line}: invalid YAML ({getattr(error, 'problem', error)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def config_path_in(argv: list[str]) -> Path | None:
    """The value of ``--config`` in ``argv`` (``--config F`` or ``--config=F``), if any."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return None


def parsers_within(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and, recursively, the parsers of its sub-actions (``vtg energy report`` ...)."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += parsers_within(child)
    return found


def set_config_defaults(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """Make the config's top-level keys the defaults of the matching options; return the mapping.

    Keys may use dashes or underscores, and may name an option of a sub-action (``vtg energy report``'s
    ``--tc``). Mappings (sections such as ``model:``) are left for the command to read from
    ``args.config_dict``; any other key that names no option is a :class:`UserError`, so that a typo is
    not silently ignored.
    """
    config = load_yaml(path)
    parsers = parsers_within(parser)
    for key, value in config.items():
        dest = str(key).replace("-", "_")
        owners = [p for p in parsers if any(action.dest == dest for action in p._actions)]
        if owners:
            for owner in owners:
                owner.set_defaults(**{dest: value})
                for action in owner._actions:
                    if action.dest == dest:
                        action.required = False  # the config supplies it
        elif not isinstance(value, dict):
            raise UserError(f"{path}: field '{key}' is not an option of this command")
    for each in parsers:
        each.set_defaults(config_dict=config)
    return config


def dataclass_fields_from_mapping(cls: type, section: Any, where: str) -> dict[str, Any]:
    """Check a config section against a dataclass's fields; return the values to build it with.

    ``name`` (a registry key) is accepted and dropped; an unknown key or a value of the wrong type is a
    :class:`UserError` naming ``where.key``. Field annotations are read as strings (PEP 563): ``str``,
    ``bool``, ``int``, ``int | None`` and otherwise a finite number.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return {
        key: _typed(value, str(fields[key].type), f"field '{where}.{key}'")
        for key, value in known_fields(section, list(fields), where).items()
    }


def known_fields(section: Any, names: list[str], where: str) -> dict[str, Any]:
    """``section`` without ``name`` (a registry key), every other key one of ``names``; an unknown key or a
    section that is not a mapping is a :class:`UserError` naming ``where.key``."""
    if not isinstance(section, dict):
        raise UserError(f"field '{where}': expected a mapping, got {type(section).__name__}")
    for key in section:
        if key != "name" and key not in names:
            raise UserError(f"field '{where}.{key}': unknown option (choose from {', '.join(names)})")
    return {key: value for key, value in section.items() if key != "name"}


def _typed(value: Any, kind: str, location: str) -> Any:
    """Check ``value`` against a dataclass field's annotation (as a string, PEP 563)."""
    if kind == "str":
        if not isinstance(value, str):
            raise UserError(f"{location}: expected a string, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"{location}: expected true or false, got {value!r}")
        return value
    if kind in ("int", "int | None"):
        if value is None and kind == "int | None":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{location}: expected an integer, got {value!r}")
        return value
    return check_number(value, location)
