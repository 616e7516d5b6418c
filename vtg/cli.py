"""The ``vtg`` command line.

Each sub-command lives in its own module, imported only when that command runs, so ``vtg --help``
stays fast and ``vtg`` itself imports nothing from ``spiking``, ``sdst_teacher``, ``export``,
``hw_sim`` or ``energy``. A command module defines::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int | None: ...

Every command takes ``--config FILE.yaml``: its top-level keys that match an option's name (dashes or
underscores) become that option's default, so the command line wins; its sections (mappings such as
``model:``) reach the command as ``args.config_dict``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from vtg.config import config_path_in, set_config_defaults
from vtg.errors import EXIT_USER_ERROR, UserError

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("vtg.data.command", "make the synthetic dataset or convert Charades-STA, TACoS, YouTube Highlights"),
    "eval": ("vtg.metrics.command", "score a predictions file against ground truth (official metrics)"),
    "train": ("vtg.engine.train_command", "train SpikingVTG, SDST or the UniVTG-style teacher"),
    "predict": ("vtg.engine.predict_command", "write predictions of a checkpoint in the official format"),
    "info": ("vtg.engine.info_command", "print a checkpoint's config and parameter counts by module"),
    "distill": ("spiking.distill_command", "CLRM knowledge transfer from a teacher to SpikingVTG"),
    "simulate": ("hw_sim.simulate_command", "run an exported bundle in the Loihi-style Lava simulation"),
    "energy": ("energy.command", "45 nm energy estimates and energy-accuracy trade-off reports"),
}


def build_parser(prog: str, commands: dict[str, tuple[str, str]], argv: Sequence[str]) -> argparse.ArgumentParser:
    """A parser with every command listed, and the arguments of the one named in ``argv`` added."""
    parser = argparse.ArgumentParser(prog=prog, description="Neuromorphic video temporal grounding toolkit.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            command_parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
            command_parser.add_argument("--config", type=Path, help="YAML file whose keys set this command's options")
            importlib.import_module(module).add_arguments(command_parser)
            command_parser.set_defaults(_module=module, config_dict={})
            config = config_path_in(list(argv))
            if config is not None:
                set_config_defaults(command_parser, config)
    return parser


def main_with(prog: str, commands: dict[str, tuple[str, str]], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the chosen command, and turn a :class:`UserError` into exit status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser(prog, commands, argv)
        args = parser.parse_args(argv)
        code = importlib.import_module(args._module).run(args)
        return int(code or 0)
    except UserError as error:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return main_with("vtg", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
