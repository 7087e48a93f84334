"""Atomic file writing: a temporary file in the target folder, flushed to disk, then a rename over the target.

Whatever stops the writing process (an error, a crash, SIGKILL, a power cut after the rename reached the disk), the
target holds either its previous bytes or the complete new file, never a mixture. A target that is a symbolic link
is written through: the file it points to is replaced, the link stays. The temporary file is named
`.<name>.partial-<pid>-<random><suffix>`: hidden, visibly unfinished, and removed by the next write of the same
target once the process that left it is gone. The new file gets the previous file's permissions (or the usual
permissions for a new file), not the private ones a temporary file is created with.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..errors import InputError

# Compound suffixes that decide a file's format and must survive in the temporary name.
_COMPOUND_SUFFIXES = (".seg.nrrd", ".nii.gz", ".mrk.json", ".tar.gz")
PARTIAL_MARK = ".partial-"
STALE_AFTER_S = 3600.0

# Called with (stage, target) at "start" (before the temporary file exists), "written" (the temporary file is
# complete and on disk, not yet renamed) and "replaced" (the rename is done). Tests use it to stop a writer at
# chosen moments; it is None in normal use.
write_hook: Optional[Callable[[str, Path], None]] = None


def full_suffix(path: str | os.PathLike) -> str:
    """The format-deciding suffix of a path: '.seg.nrrd', '.nii.gz', '.mrk.json', else the last suffix."""
    name = Path(path).name.lower()
    for suffix in _COMPOUND_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(path).suffix.lower()


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse early (before any work), naming the user's path: an output that is a folder, whose folder is missing
    or is a file, or that cannot be written there (permissions, a read-only disk). A symbolic link is followed: the
    file it points to is the one written."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"output {target} is a folder; give a file name")
    real = Path(os.path.realpath(target)) if target.is_symlink() else target
    folder = real.parent
    if not folder.exists():
        blocking = _file_on_the_way(folder)
        if blocking is not None:
            raise InputError(f"output {target}: {blocking} is a file, not a folder")
        raise InputError(f"output folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"output {target}: {folder} is a file, not a folder")
    _probe_folder(folder, target, partial_prefix(real))
    return target


def check_output_folder(path: str | os.PathLike) -> Path:
    """Refuse early, naming the user's path, an output folder that is a file, lies under a file or cannot be
    created or written; a missing folder (and its missing parents) is fine: `make_output_folder` creates it."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output {folder} is a file; give a folder")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise InputError(f"output {folder}: {existing} is a file, not a folder")
    _probe_folder(existing, folder, f".{folder.name or 'output'}{PARTIAL_MARK}")
    return folder


def make_output_folder(path: str | os.PathLike) -> Path:
    """Create an output folder checked by `check_output_folder`, with any missing parents."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the output folder {folder}: {_reason(error)}") from None
    return folder


def _file_on_the_way(folder: Path) -> Optional[Path]:
    """The nearest existing ancestor of a missing folder when it is a file (a path 'under a file'), else None."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing if existing.exists() and not existing.is_dir() else None


def _probe_folder(folder: Path, target: Path, prefix: str) -> None:
    """Create and remove a hidden file in `folder`: refuses, naming the user's `target`, what cannot be written."""
    try:
        handle, name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", dir=folder)
    except OSError as error:
        raise InputError(f"cannot write {target}: {_reason(error)} ({folder})") from None
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(name)


def _reason(error: OSError) -> str:
    """An operating-system error in words, without the temporary file's name."""
    return (error.strerror or type(error).__name__).lower()


def partial_prefix(path: str | os.PathLike) -> str:
    """The name prefix of the temporary files that writing `path` creates beside it."""
    target = Path(path)
    suffix = full_suffix(target)
    return f".{target.name[: -len(suffix) or None]}{PARTIAL_MARK}"


def leftover_partials(path: str | os.PathLike) -> list[Path]:
    """Temporary files of `path` left beside it by writers that were killed (their process is gone)."""
    target = Path(path)
    prefix = partial_prefix(target)
    leftovers = []
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            if entry.name.startswith(prefix) and _abandoned(entry, _writer_pid(entry.name[len(prefix):])):
                leftovers.append(entry)
    return sorted(leftovers)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is synced and replaces `path`, on failure it is removed."""
    given = check_writable(path)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given  # write through a link
    _call_hook("start", target)
    for leftover in leftover_partials(target):
        with contextlib.suppress(OSError):
            leftover.unlink()
    mode = _mode_for(target)
    try:
        handle, tmp_name = tempfile.mkstemp(prefix=f"{partial_prefix(target)}{os.getpid()}-",
                                            suffix=full_suffix(target), dir=target.parent)
    except OSError as error:
        raise InputError(f"cannot write {given}: {_reason(error)}") from None
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            os.chmod(tmp, mode)
            _fsync_file(tmp)
            _call_hook("written", target)
            os.replace(tmp, target)
        except OSError as error:  # a full disk, a quota, a folder made read-only meanwhile: the user's path
            raise InputError(f"cannot write {given}: {_reason(error)}") from None
        _fsync_folder(target.parent)
        _call_hook("replaced", target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _call_hook(stage: str, target: Path) -> None:
    if write_hook is not None:
        write_hook(stage, target)


def _mode_for(target: Path) -> int:
    """The permissions the written file gets: the previous file's, or read-write for all less the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_file(path: Path) -> None:
    """Flush a written file to the disk, so a rename that survives a power cut never points at missing data."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Flush the folder entry of a rename (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _writer_pid(rest: str) -> int:
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else -1


def _abandoned(entry: Path, pid: int) -> bool:
    """Whether a temporary file's writer is gone: its process has ended (POSIX), or it is an hour old (Windows)."""
    if os.name == "nt":  # os.kill(pid, 0) would end the process there
        with contextlib.suppress(OSError):
            return time.time() - entry.stat().st_mtime > STALE_AFTER_S
        return False
    return not _process_alive(pid)


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists (POSIX; an unreadable id counts as gone)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
