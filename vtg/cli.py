"""The ``vtg`` command line (and the error handling shared with ``vtg-export``).

Each sub-command lives in its own module, imported only when that command runs, so ``vtg --help``
stays fast and ``vtg`` itself imports nothing from ``spiking``, ``sdst_teacher``, ``export``,
``hw_sim`` or ``energy``. A command module defines::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int | None: ...

Every command takes ``--config FILE.yaml``: its top-level keys that match an option's name (dashes or
underscores) become that option's default, so the command line wins; its sections (mappings such as
``model:``) reach the command as ``args.config_dict``. A :class:`vtg.errors.UserError` ends the
command with one line on stderr and exit status 2 (a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from vtg.atomic import WRITE_ERRORS, write_error
from vtg.config import check_config_values, config_path_in, parsers_within, set_config_defaults
from vtg.errors import EXIT_USER_ERROR, UserError

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("vtg.data.command", "make the synthetic dataset or convert Charades-STA, TACoS, YouTube Highlights"),
    "pool-features": ("sdst_teacher.pooling_command", "pool token-level backbone features into (T, K, F) files"),
    "eval": ("vtg.metrics.command", "score a predictions file against ground truth (official metrics)"),
    "train": ("vtg.engine.train_command", "train SpikingVTG, SDST or the UniVTG-style teacher"),
    "predict": ("vtg.engine.predict_command", "write predictions of a checkpoint in the official format"),
    "info": ("vtg.engine.info_command", "print a checkpoint's config and parameter counts by module"),
    "distill": ("spiking.distillation.distill_command", "CLRM knowledge transfer from a teacher to SpikingVTG"),
    "equilibrium": ("spiking.equilibrium_command", "how a SpikingVTG student converges to its steady state over Tc"),
    "simulate": ("hw_sim.simulate_command", "run an exported bundle in the Loihi-style Lava simulation"),
    "energy": ("energy.command", "45 nm energy estimates and energy-accuracy trade-off reports"),
    "teacher": ("sdst_teacher.teacher_command", "import a released teacher checkpoint (UniVTG) as a vtg checkpoint"),
    "deploy": ("export.deploy_command", "check an exported bundle against Loihi 2's published limits"),
}


def prepare_command_parser(parser: argparse.ArgumentParser, module: str, argv: Sequence[str]) -> None:
    """Add the command module's arguments, ``--config`` and ``--debug``, and apply a config file."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--config", type=Path, help="YAML file whose keys set this command's options")
    importlib.import_module(module).add_arguments(parser)
    for sub_action in parsers_within(parser)[1:]:
        # a command with actions (`vtg energy report`) takes these after the action's name too
        known = {option for action in sub_action._actions for option in action.option_strings}
        if "--config" not in known:
            sub_action.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        if "--debug" not in known:
            sub_action.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(_module=module, config_dict={})
    config = config_path_in(list(argv))
    if config is not None:
        set_config_defaults(parser, config)


def run_guarded(prog: str, argv: Sequence[str], body: Callable[[], int | None]) -> int:
    """Run ``body``; a :class:`UserError` becomes one line and exit status 2, Ctrl-C exit status 130."""
    try:
        return int(body() or 0)
    except UserError as error:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output (e.g. `| head`) went away: not an error of ours, and nothing left to say
        sys.stderr.close()
        return 0
    except OSError as error:
        # a full disk or a read-only file system met by a write outside vtg.atomic (a library's own file):
        # the machine's state, told in one line like a mistake in the input
        if error.errno not in WRITE_ERRORS:
            raise
        if "--debug" in argv:
            traceback.print_exc()
        print(f"{prog}: error: {write_error(Path(error.filename or '.'), error)}", file=sys.stderr)
        return EXIT_USER_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vtg``: pick the command, build only its parser, run it."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def body() -> int | None:
        parser = argparse.ArgumentParser(prog="vtg", description="Neuromorphic video temporal grounding toolkit.")
        parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
        chosen = next((a for a in argv if not a.startswith("-")), None)
        for name, (module, help_text) in COMMANDS.items():
            command_parser = sub.add_parser(name, help=help_text, description=help_text)
            if name == chosen:
                prepare_command_parser(command_parser, module, argv)
        args = parser.parse_args(argv)
        check_config_values(args)
        return importlib.import_module(args._module).run(args)

    return run_guarded("vtg", argv, body)


def main_single(prog: str, module: str, description: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of a one-command program such as ``vtg-export`` (same conventions as ``vtg``)."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def body() -> int | None:
        parser = argparse.ArgumentParser(prog=prog, description=description)
        prepare_command_parser(parser, module, argv)
        args = parser.parse_args(argv)
        check_config_values(args)
        return importlib.import_module(module).run(args)

    return run_guarded(prog, argv, body)


if __name__ == "__main__":
    sys.exit(main())
