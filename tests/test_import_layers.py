"""The import rules of docs/ARCHITECTURE.md, checked on the imports of every module, so the picture stays true.

Each module's source is parsed (``ast``), not imported: every ``import`` and ``from ... import`` counts, at the
top of a module or inside a function (a lazy import is still a dependency). Names given to
``importlib.import_module`` as strings (the CLI's command table, the model registry) are not imports here:
that is how ``vtg`` reaches the other packages without depending on them.

1. Packages: each imports only the packages its row of ARCHITECTURE.md's table allows, and each allowed
   direction is used (an arrow nobody uses comes out of the picture).
2. Command modules (``vtg.cli.COMMANDS`` and the console scripts) are leaves: only the command-line layer
   imports one.
3. Training code (``vtg.engine``, Lightning) is imported only by the engine, the distillation recipe
   (``spiking.distillation``) and command modules: reading, evaluating, exporting, simulating and pricing a
   checkpoint need none of it.
4. Inside ``spiking``, only ``spiking.distillation`` imports ``spiking.distillation``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vtg.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vtg", "spiking", "sdst_teacher", "export", "hw_sim", "energy", "benchmarks")
TRAINING = ("vtg.engine", "lightning")
TRAINING_HOMES = ("vtg.engine", "spiking.distillation")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in ``source``, the text of ``module``; ``from a import b``
    gives ``a`` and ``a.b`` (``b`` may be a submodule); relative imports are resolved against ``module``'s
    package (``module`` itself when it is a package's ``__init__``)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def all_imports() -> list[tuple[str, Path, int, str]]:
    """``(importing module, its file, line, imported module)`` over every module of :data:`PACKAGES`."""
    rows = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name, text = module_name(path), path.read_text(encoding="utf-8")
            rows += [(name, path, line, target) for line, target in imports_of(text, name, path.name == "__init__.py")]
    return rows


IMPORTS = all_imports()


def allowed_directions() -> dict[str, set[str]]:
    """ARCHITECTURE.md's table ``| `package` | may import |``: package -> the packages it may import."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Packages and the direction of imports", 1)[1].split("\n## ", 1)[0]
    table = {}
    for row in re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| ([^|]+) \|$", section, flags=re.M):
        targets = set(re.findall(r"`([a-z_]+)`", row[1]))
        for package in re.findall(r"`([a-z_]+)`", row[0]):
            table[package] = set(PACKAGES) if row[1].strip() == "any package" else targets
    return table


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def command_modules() -> set[str]:
    """The modules the ``vtg`` command dispatches to and the console scripts' modules (pyproject.toml)."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = pyproject.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return {module for module, _ in COMMANDS.values()} | set(re.findall(r'= "([\w.]+):\w+"', scripts))


def test_the_scan_sees_the_imports_it_judges():
    modules = {module for module, *_ in IMPORTS}
    assert {"vtg.cli", "hw_sim.runner", "spiking.distillation.recipe", "energy.command"} <= modules
    targets = {(module, target) for module, _, _, target in IMPORTS}
    assert ("hw_sim.runner", "export.bundle") in targets  # a top-level import
    assert ("energy.command", "vtg.evaluation") in targets  # one inside a function


def test_relative_imports_are_resolved():
    source = "from . import a\nfrom .b import c\nfrom .. import d\n\ndef f():\n    import e.f\n"
    assert imports_of(source, "p.q.m") == [
        (1, "p.q"),
        (1, "p.q.a"),
        (2, "p.q.b"),
        (2, "p.q.b.c"),
        (3, "p"),
        (3, "p.d"),
        (6, "e.f"),
    ]
    assert imports_of("from .x import y", "p.q", is_package=True) == [(1, "p.q.x"), (1, "p.q.x.y")]


def test_the_table_names_every_package():
    assert set(allowed_directions()) == set(PACKAGES) | {"tests"}


def test_packages_import_only_what_the_table_allows():
    allowed = allowed_directions()
    wrong = {}  # one line per import statement (``from a import b`` gives two targets)
    for module, path, line, target in IMPORTS:
        source, imported = module.split(".")[0], target.split(".")[0]
        if imported in PACKAGES and imported != source and imported not in allowed[source]:
            where = f"{path.relative_to(ROOT)}:{line}"
            wrong.setdefault(where, f"{where}: imports {target} ({source} may import {sorted(allowed[source])})")
    assert not wrong, "\n".join(wrong.values())


def test_every_allowed_direction_is_used():
    """An arrow of the picture that no import follows any more is taken out of it."""
    used = {(module.split(".")[0], target.split(".")[0]) for module, _, _, target in IMPORTS}
    unused = [
        f"{source} -> {target}"
        for source, targets in allowed_directions().items()
        if source not in ("benchmarks", "tests")
        for target in targets
        if (source, target) not in used
    ]
    assert not unused, f"ARCHITECTURE.md allows directions no module uses: {unused}"


def test_command_modules_are_leaves():
    commands = command_modules()
    assert "vtg.engine.train_command" in commands and "vtg.cli" in commands and "export.command" in commands
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports the command module {target}"
        for module, path, line, target in IMPORTS
        if target in commands and module not in commands
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("training", TRAINING)
def test_training_code_is_imported_only_where_training_happens(training):
    commands = command_modules()
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports {target}"
        for module, path, line, target in IMPORTS
        if within(target, (training,)) and not within(module, TRAINING_HOMES) and module not in commands
    ]
    assert not wrong, "\n".join(wrong)


def test_nothing_in_spiking_outside_distillation_imports_it():
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports {target}"
        for module, path, line, target in IMPORTS
        if within(target, ("spiking.distillation",))
        and within(module, ("spiking",))
        and not within(module, ("spiking.distillation",))
    ]
    assert not wrong, "\n".join(wrong)
