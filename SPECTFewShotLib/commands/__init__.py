"""The product's subcommands of `spectfewshot`: one module each, exposing `register(subparsers)` that sets `func`."""

COMMAND_MODULES = ("info", "classify", "localize", "polar_map", "batch", "normals")
