"""YAML configs: loading with clear errors, and using a config's keys as command-line defaults.

A config's top-level keys are options of the command (``data: DIR``) or sections, mappings read by the
commands: ``model:`` (``vtg train``, ``vtg distill``, ``vtg info``), ``train:`` (``vtg train``, ``vtg
distill``) and ``distill:`` (``vtg distill``). One file serves several commands (``vtg info`` reads a
training config's ``model:``; a label-only ``vtg train`` leaves ``distill:`` unused), so any of
:data:`SECTIONS` is accepted by every command, and any other section is refused at start with its line:
``trian:`` must not train the default epochs in silence. An option's value goes through the option's type
and choices as on the command line (:func:`config_default`); ``--config`` and ``--debug`` are the command
line's only.
"""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import functools
import importlib.resources
import re
from pathlib import Path
from typing import Any

import yaml

from vtg.errors import UserError, check_number
from vtg.json_file import read_text

SECTIONS = ("model", "train", "distill")
# options that a config file cannot set: --config itself, and --debug, which the error handling reads from the
# command line before any config is parsed (vtg/cli.py)
COMMAND_LINE_ONLY = ("config", "debug")
# integers beyond 64 bits fit no field of any config (torch and numpy hold int64 at most)
MAX_INTEGER = 2**63 - 1


def preset(name: str) -> Path:
    """The preset config ``name`` (``sdst_demo.yaml``) shipped with the toolkit.

    One folder, ``configs/`` of the clone, which an installed toolkit carries as the package ``vtg.configs``
    (setup.py maps it there), so the demo finds its configs wherever it runs.
    """
    try:
        folder = Path(str(importlib.resources.files("vtg.configs")))
    except ModuleNotFoundError:
        # vtg imported from a clone that is not installed (PYTHONPATH), or installed editable before configs/
        # became vtg.configs: the same folder, beside vtg/
        folder = Path(__file__).resolve().parents[1] / "configs"
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no preset config {name!r} in the toolkit")
    return path


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key written twice in one mapping, which PyYAML would read as the last one
    silently (a second ``model:`` section replacing the first), and aliases (``*name``): nested aliases
    expand exponentially (a few hundred bytes of ``dataset.yaml`` from someone else would take hours to walk),
    and no config of the toolkit needs them (:func:`dump_yaml` writes none)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} (aliases are not read: write the value out)", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, collections.abc.Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} written twice in one mapping", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML (invalid UTF-8, nesting too deep, a key written twice) or
    an absurd integer is a :class:`UserError` naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}{line}: invalid YAML ({getattr(error, 'problem', error)})") from None
    except RecursionError:
        raise UserError(f"{path}: invalid YAML (nested too deeply)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    check_integers(data, str(path))
    return data


class _PlainDumper(yaml.SafeDumper):
    """YAML's safe dumper writing a value used twice out twice, not as an anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# YAML 1.1 (PyYAML) reads a float only with a dot and a signed exponent: 1e-4 and 1.0e4 were the strings
# '1e-4' and '1.0e4', refused where a number is needed; as YAML 1.2 and the command line, they are numbers.
# The dumper knows it too, so that it quotes such a string and load_yaml reads back what dump_yaml wrote.
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
for _reader_or_writer in (_UniqueKeyLoader, _PlainDumper):
    _reader_or_writer.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+0123456789."))


def dump_yaml(data: dict[str, Any]) -> str:
    """``data`` as YAML that :func:`load_yaml` reads back: keys in their order, no aliases."""
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False)


def check_integers(data: Any, source: str, field: str = "") -> None:
    """Refuse an integer beyond 64 bits anywhere in ``data`` (a loaded config), naming its field and line."""
    if isinstance(data, dict):
        for key, value in data.items():
            check_integers(value, source, f"{field}.{key}" if field else str(key))
    elif isinstance(data, list):
        for value in data:
            check_integers(value, source, field)
    elif isinstance(data, int) and not isinstance(data, bool) and abs(data) > MAX_INTEGER:
        raise UserError(f"{config_location(source, field)}: an integer of {len(str(abs(data)))} digits is out of range")


@functools.lru_cache(maxsize=16)
def _key_lines(source: str) -> dict[str, int]:
    """``{"train.monitor": 12, ...}``: the 1-based line of every key of YAML file ``source`` (empty when it
    is not one)."""
    try:
        root = yaml.compose(Path(source).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str, depth: int) -> None:
        if not isinstance(node, yaml.MappingNode) or depth > 8:
            return
        for key, value in node.value:
            name = f"{prefix}.{key.value}" if prefix else str(key.value)
            lines.setdefault(name, key.start_mark.line + 1)
            walk(value, name, depth + 1)

    walk(root, "", 0)
    return lines


def config_location(source: str | Path, field: str) -> str:
    """``FILE:LINE: field 'a.b'`` for field ``a.b`` of config file ``source`` (``source: field 'a.b'`` when
    the line is not known, e.g. ``source`` is not a file)."""
    line = _key_lines(str(source)).get(field)
    return f"{source}{f':{line}' if line is not None else ''}: field '{field}'"


def located(source: str | Path, error: UserError) -> UserError:
    """``error`` (``field 'a.b': ...``, from a checker that knows no file) with ``source``'s file and line."""
    match = re.match(r"field '([^']+)'(.*)$", str(error), re.DOTALL)
    if match is None:
        return error if str(error).startswith(str(source)) else UserError(f"{source}: {error}")
    return UserError(f"{config_location(source, match[1])}{match[2]}")


def config_path_in(argv: list[str]) -> Path | None:
    """The value of ``--config`` in ``argv`` (``--config F`` or ``--config=F``; the last one, as argparse
    keeps it), if any. Its file is read before argparse parses the rest, so ``--config`` must be spelled in
    full: a shortened one (``--conf``, which argparse would accept) is a :class:`UserError`."""
    found = None
    for i, arg in enumerate(argv):
        name = arg.split("=", 1)[0]
        if name != "--config" and len(name) >= len("--co") and "--config".startswith(name):
            raise UserError(f"option {name}: write --config in full (its file is read before the other options)")
        if arg == "--config" and i + 1 < len(argv):
            found = Path(argv[i + 1])
        elif arg.startswith("--config="):
            found = Path(arg.split("=", 1)[1])
    return found


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
    ``args.config_dict``, when they are one of :data:`SECTIONS`; any other key that names no option is a
    :class:`UserError` with its line, so that a typo is not silently ignored.
    """
    config = load_yaml(path)
    parsers = parsers_within(parser)
    for key, value in config.items():
        dest = str(key).replace("-", "_")
        location = config_location(path, str(key))
        if dest in COMMAND_LINE_ONLY:
            raise UserError(f"{location}: an option of the command line only")
        owners = [p for p in parsers if any(action.dest == dest for action in p._actions)]
        if key in SECTIONS and isinstance(value, dict):
            continue  # a section, also where an option has its name (`vtg data synth --train N`)
        if owners:
            if value is None:
                continue  # null: the option as if the config did not name it
            for owner in owners:
                for action in owner._actions:
                    if action.dest == dest:
                        try:
                            default = config_default(action, value, location)
                        except UserError as error:
                            if isinstance(action, (argparse._AppendAction, argparse._ExtendAction)):
                                raise  # argparse adds the command line's values to this default
                            # refused only if this is the action that runs: options of one name may differ
                            # between actions (`vtg energy formula --tc 10`, `vtg energy report --tc 1,2`)
                            default = RefusedConfigValue(error)
                        owner.set_defaults(**{dest: default})
                        action.required = False  # the config supplies it
        elif not isinstance(value, dict):
            raise UserError(f"{config_location(path, str(key))}: not an option of this command")
        elif key not in SECTIONS:
            raise UserError(f"{config_location(path, str(key))}: unknown section (sections: {', '.join(SECTIONS)})")
    for each in parsers:
        each.set_defaults(config_dict=config)
    return config


@dataclasses.dataclass(frozen=True)
class RefusedConfigValue:
    """The default of an option whose config value :func:`config_default` refused; :func:`check_config_values`
    raises its error once the parsed command is known to read it (the command line's value, when it gives
    one, replaces it: the command line wins)."""

    error: UserError

    def __str__(self) -> str:  # what --help shows as the option's default
        return "(refused: see the error without --help)"


def check_config_values(args: argparse.Namespace) -> None:
    """Raise the error of a config value the parsed command's own option refused (:class:`RefusedConfigValue`)."""
    for value in vars(args).values():
        if isinstance(value, RefusedConfigValue):
            raise value.error


def config_default(action: argparse.Action, value: Any, location: str) -> Any:
    """A config file's ``value`` for ``action``, converted and checked as argparse treats the command line's
    (argparse converts only string defaults and checks no default against ``choices``).

    A flag takes true or false; an option of several values (``--seeds 0 1``, or one given several times,
    ``--beside A --beside B``) a list or one value; any other a single value, or a YAML list where the option
    takes comma-separated values (``levels: [3, 6]`` for ``--levels 3,6``).
    """
    if action.nargs == 0:
        if not isinstance(value, bool):
            raise UserError(f"{location}: expected true or false, got {value!r}")
        return value
    if action.nargs in ("+", "*") or isinstance(action, (argparse._AppendAction, argparse._ExtendAction)):
        return [_config_value(action, item, location) for item in (value if isinstance(value, list) else [value])]
    if isinstance(value, list) and action.type is None:
        value = ",".join(_config_value(action, item, location) for item in value)
    return _config_value(action, value, location)


def _config_value(action: argparse.Action, value: Any, location: str) -> Any:
    """One value of a config key, through the option's ``type`` and ``choices`` as on the command line."""
    if isinstance(value, (bool, dict, list)) or value is None:
        raise UserError(f"{location}: expected a single value, got {value!r}")
    text = str(value)
    try:
        converted = text if action.type is None else action.type(text)
    except argparse.ArgumentTypeError as error:
        raise UserError(f"{location}: {error}") from None
    except (TypeError, ValueError):
        kind = {int: "an integer", float: "a number"}.get(action.type, "a value of the option's kind")
        raise UserError(f"{location}: expected {kind}, got {value!r}") from None
    if action.choices is not None and converted not in action.choices:
        raise UserError(f"{location}: {converted!r} is not one of {', '.join(map(str, action.choices))}")
    return converted


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
