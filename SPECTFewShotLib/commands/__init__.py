"""Subcommands of `spectfewshot`: one module each, exposing `register(subparsers)` that sets `func`."""

COMMAND_MODULES = ("info", "demo", "classify", "localize", "phantom", "train", "evaluate", "bench")
