"""How the research bench's reports say where they come from: the command run (without the machine's own paths),
the commit and the machine kind, in the one line every file under docs/evaluation/ opens with."""

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PROVENANCE_START = "Command: "


def command_line() -> str:
    """The `spectfewshot` command being run, quoted as a shell would need it, without the machine's own paths: a
    path inside the repository is written relative to it, any other absolute path as .../its-last-name."""
    return "spectfewshot " + " ".join(shlex.quote(portable_argument(a)) for a in sys.argv[1:])


def portable_argument(argument: str) -> str:
    """A command-line argument without the machine's own paths: a path inside the repository relative to it, any
    other absolute path as .../its-last-name, also after a KEY= (as in --real-model 001=/path/weights.pt)."""
    key, separator, value = argument.partition("=")
    if separator and not os.path.isabs(argument) and os.path.isabs(value):
        return f"{key}={portable_argument(value)}"
    if not os.path.isabs(argument):
        return argument
    path = Path(argument).resolve()
    if path == REPOSITORY or REPOSITORY in path.parents:
        return str(path.relative_to(REPOSITORY))
    return f".../{path.name}"


def provenance_line(command: str | None = None) -> str:
    """The one line every evaluation file opens with: the command, the commit and the machine kind."""
    return (f"{PROVENANCE_START}`{command or command_line()}` · commit {current_commit()} · "
            f"machine: {machine_kind()}")


def current_commit() -> str:
    """The repository's commit (short hash, '+ uncommitted changes' when the tree differs), or 'unknown'."""
    try:
        run = lambda *args: subprocess.run(["git", *args], cwd=REPOSITORY, capture_output=True, text=True,  # noqa: E731
                                           check=True, timeout=10).stdout.strip()
        commit = run("rev-parse", "--short=7", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} + uncommitted changes" if dirty else commit


def machine_kind() -> str:
    """The machine in words: architecture, CPU cores and the GPU when torch is loaded and sees one."""
    kind = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"{kind}, {torch.cuda.get_device_name(0)}"
    return f"{kind}, no GPU used"
