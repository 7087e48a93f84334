"""The product's single-study subcommands of `spectfewshot`: one module each, exposing `register(subparsers)` that
sets `func`. The cohort's commands (`batch`, `normals`) live in cohort/, which runs these in its workers."""

COMMAND_MODULES = ("info", "classify", "localize", "polar_map")
