"""The research subcommands of `spectfewshot` (offered by the CLI when the research extra is installed)."""

from SPECTFewShotLib.research.provenance import command_line, provenance_line

COMMAND_MODULES = ("demo", "phantom", "train", "evaluate", "bench")

__all__ = ["COMMAND_MODULES", "command_line", "provenance_line"]
