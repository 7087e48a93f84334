"""`spectfewshot info VOLUME [--json]`: geometry, modality, units and voxel statistics of a volume."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io.volume_io import read_volume, require_counts
from ..volume_stats import describe


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `info` subcommand."""
    parser = subparsers.add_parser("info", help="describe a SPECT volume", description=__doc__)
    parser.add_argument("volume", help="NIfTI, NRRD, MetaImage or DICOM file, or a folder with one DICOM series")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the description of one volume."""
    info = describe(require_counts(read_volume(args.volume), Path(args.volume).name))
    if args.json:
        print(json.dumps(info))
        return 0
    print(format_info(info, args.volume))
    return 0


def format_info(info: dict, name: str) -> str:
    """The text form of `describe`'s dictionary."""
    fmt = ", ".join
    lines = [
        f"volume     {name}",
        f"size       {' x '.join(str(s) for s in info['size'])} voxels (i, j, k)",
        f"spacing    {fmt(f'{s:.4g}' for s in info['spacing'])} mm",
        f"origin     {fmt(f'{o:.2f}' for o in info['origin_lps'])} mm (LPS)",
        f"direction  {fmt(f'{d:.4g}' for d in info['direction'])}",
        f"modality   {info['modality'] or 'unknown'}",
        f"units      {info['units'] or 'unknown'}",
        f"voxels     min {info['min']:.6g}, max {info['max']:.6g}, mean {info['mean']:.6g}, sum {info['sum']:.6g}",
    ]
    return "\n".join(lines)
