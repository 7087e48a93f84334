"""The research subcommands of `spectfewshot` (offered by the CLI when the research extra is installed)."""

import shlex
import sys

COMMAND_MODULES = ("demo", "phantom", "train", "evaluate", "bench")


def command_line() -> str:
    """The `spectfewshot` command being run, quoted as a shell would need it (for the reports it writes)."""
    return "spectfewshot " + " ".join(shlex.quote(a) for a in sys.argv[1:])
