"""Atomic file writing: a temporary file in the target folder, then a rename over the target."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import InputError

# Compound suffixes that decide a file's format and must survive in the temporary name.
_COMPOUND_SUFFIXES = (".seg.nrrd", ".nii.gz", ".mrk.json", ".tar.gz")


def full_suffix(path: str | os.PathLike) -> str:
    """The format-deciding suffix of a path: '.seg.nrrd', '.nii.gz', '.mrk.json', else the last suffix."""
    name = Path(path).name.lower()
    for suffix in _COMPOUND_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(path).suffix.lower()


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse early (before any work) an output path whose folder does not exist or that is a folder."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"output {target} is a folder; give a file name")
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path`, on failure it is removed."""
    target = check_writable(path)
    suffix = full_suffix(target)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name[: -len(suffix) or None]}.", suffix=suffix,
                                        dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
