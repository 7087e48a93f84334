"""Options and checks every `spectfewshot train ...` command shares: the phantom cache and the output folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from SPECTFewShotLib.errors import InputError


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--cache (phantom cache folder) and --output-dir (where weights and the model card go)."""
    parser.add_argument("--cache", metavar="DIR", help="phantom cache folder (default: ~/.cache/spectfewshot)")
    parser.add_argument("--output-dir", metavar="DIR", help="where to write the weights and card "
                        "(default: Resources/Models, registered); elsewhere nothing is registered")


def output_folder(args: argparse.Namespace) -> Path:
    """The folder for the weights and card (the registry's by default); it must exist."""
    from SPECTFewShotLib.models.registry import MODELS_DIR

    output_dir = Path(args.output_dir) if args.output_dir else MODELS_DIR
    if not output_dir.is_dir():
        raise InputError(f"output folder {output_dir} does not exist")
    return output_dir


def phantom_cache(args: argparse.Namespace) -> Optional[Path]:
    """The phantom cache folder given by --cache (None: the default cache)."""
    return Path(args.cache) / "phantoms" if args.cache else None
