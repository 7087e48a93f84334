"""The `spectfewshot` command line: one error policy for every subcommand.

The product's commands (`info`, `classify`, `localize`) are always there. The research bench's commands (`demo`,
`phantom`, `train`, `evaluate`, `bench`) are found by name at run time when the research package and its extra are
installed (the product never imports research code statically); without them each says in one line how to get them.
Library errors (SPECTFewShotError) and what the system refuses (OSError: permissions, a full or read-only disk)
become one line `error: <message>` on stderr and exit status 2; anything unexpected becomes one line and status 1.
`--debug` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

from . import __version__
from .cohort import COMMAND_MODULES as COHORT_COMMANDS
from .commands import COMMAND_MODULES
from .errors import SPECTFewShotError
from .runtime.memory_pages import avoid_huge_page_advice

RESEARCH_PACKAGE = f"{__package__}.research"
RESEARCH_COMMANDS = ("demo", "phantom", "train", "evaluate", "bench")
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="spectfewshot",
        description="Few-shot tissue classification and one-shot landmarks for SPECT volumes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.commands.{module_name}").register(subparsers)
    for module_name in COHORT_COMMANDS:
        importlib.import_module(f"{__package__}.cohort.{module_name}").register(subparsers)
    _register_research_commands(subparsers)
    return parser


def _register_research_commands(subparsers: argparse._SubParsersAction) -> None:
    """The research bench's commands, or for each a stand-in that says how to install them."""
    try:
        research = importlib.import_module(RESEARCH_PACKAGE)
        commands = importlib.import_module(f"{RESEARCH_PACKAGE}.commands")
    except ImportError:  # a product-only install (as Slicer ships it): the commands are known by name
        missing, names = ["the research package"], RESEARCH_COMMANDS
    else:
        missing, names = research.missing_packages(), commands.COMMAND_MODULES
    if not missing:
        for module_name in names:
            importlib.import_module(f"{RESEARCH_PACKAGE}.commands.{module_name}").register(subparsers)
        return
    message = (f"'{{command}}' is a research command; it needs {', '.join(missing)}: "
               f'install the research extra with pip install "SPECTFewShot[research]"')
    for name in names:
        parser = subparsers.add_parser(name, help="research command (needs the research extra)", add_help=False)
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        parser.set_defaults(func=_research_unavailable(message.format(command=name)))


def _research_unavailable(message: str):
    def run(_args: argparse.Namespace) -> int:
        raise SPECTFewShotError(message)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s: %(message)s" if not args.debug else "%(levelname)s %(name)s: %(message)s",
    )
    _silence_itk_warnings()
    avoid_huge_page_advice()  # a short-lived process touches fresh memory all the time (memory_pages)
    try:
        return int(args.func(args) or 0)
    except SPECTFewShotError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except OSError as error:  # the system refused a file (permissions, a full or read-only disk): the user's to fix
        if args.debug:
            raise
        print(f"error: {os_error_line(error)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as error:  # the last line of defence: never a bare traceback for the user
        if args.debug:
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: internal error ({type(error).__name__}: {reason}); rerun with --debug and report it",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def os_error_line(error: OSError) -> str:
    """An operating-system error as one line naming the file, without a hidden temporary file's name."""
    from .io.atomic import PARTIAL_MARK

    reason = (error.strerror or str(error) or type(error).__name__).lower()
    name = error.filename if error.filename is not None else ""
    if PARTIAL_MARK in os.path.basename(str(name)):
        name = os.path.dirname(str(name))  # the folder the output was being written to
    return f"{name}: {reason}" if name else reason


def _silence_itk_warnings() -> None:
    """ITK prints its own warnings on stderr; the CLI reports problems itself, in one line."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)


if __name__ == "__main__":
    sys.exit(main())
