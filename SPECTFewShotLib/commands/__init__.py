"""Subcommands of `spectfewshot`: one module each, exposing `register(subparsers)` that sets `func`."""

COMMAND_MODULES = ("info", "demo", "phantom", "train", "evaluate", "bench")
