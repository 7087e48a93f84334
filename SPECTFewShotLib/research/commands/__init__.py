"""The research subcommands of `spectfewshot` (offered by the CLI when the research extra is installed)."""

COMMAND_MODULES = ("demo", "phantom", "train", "evaluate", "bench")
