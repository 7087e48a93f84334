"""Which Python packages the library needs inside 3D Slicer, which are missing, and how Slicer installs them.

The packages are declared once, in Resources/requirements.txt (plain `name>=version` lines, readable by pip and by
Slicer's own `slicer.pydeps.load_requirements` in the Slicer versions that have it). Slicer owns numpy, SimpleITK
and VTK: the extension never installs or upgrades them, and every pip install it starts is constrained to the
versions of them Slicer has (`-c`, a constraints file pinning them), so a dependency cannot pull in a newer numpy.
torch comes through the PyTorch extension's PyTorchUtils when it is there (it picks the build that matches the GPU
driver); the rest through pip, after the user agreed, without blocking the application where Slicer allows it.
`ensure_in_slicer` is the one entry point of the module and the Segment Editor effect (the same dialog for both).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..resources import RESOURCES_DIR

REQUIREMENTS_FILE = RESOURCES_DIR / "requirements.txt"
# Distributions Slicer ships and updates itself; listed in pyproject.toml for the command line only.
SLICER_OWNED = ("numpy", "SimpleITK", "vtk")
# Installed through the PyTorch extension (PyTorchUtils) when it is present.
TORCH_DISTRIBUTIONS = ("torch",)
# Distributions imported under another name.
_IMPORT_NAMES = {"pydicom": "pydicom", "scikit-image": "skimage", "scikit-learn": "sklearn", "PyMaxflow": "maxflow"}
_REQUIREMENT_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*>=\s*([0-9][0-9.]*)$")


@dataclass(frozen=True)
class Requirement:
    """A distribution, the module it is imported as, and the lowest version the library works with."""

    distribution: str
    module: str
    minimum: str

    def __str__(self) -> str:
        return f"{self.distribution}>={self.minimum}"


def read_requirements(path: str | Path = REQUIREMENTS_FILE) -> tuple[Requirement, ...]:
    """The `name>=version` lines of a requirements file (comments and blank lines skipped)."""
    requirements = []
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _REQUIREMENT_LINE.match(line)
        if match is None:
            raise ValueError(f"{Path(path).name} line {number}: expected 'name>=version', not {line!r}")
        name, minimum = match.groups()
        requirements.append(Requirement(name, _IMPORT_NAMES.get(name, name.replace("-", "_")), minimum))
    return tuple(requirements)


def __getattr__(name: str) -> Any:
    """`REQUIREMENTS`: the packages Slicer must provide, read from the requirements file when first asked for (a
    test keeps them in step with pyproject.toml minus Slicer's own)."""
    if name == "REQUIREMENTS":
        return read_requirements()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric part of a version string as a tuple ("2.13.0+cpu" -> (2, 13, 0))."""
    match = re.match(r"\d+(\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def is_satisfied(requirement: Requirement) -> bool:
    """Whether the requirement's module can be imported in a version at least its minimum."""
    if importlib.util.find_spec(requirement.module) is None:
        return False
    try:
        installed = importlib.metadata.version(requirement.distribution)
    except importlib.metadata.PackageNotFoundError:
        return True  # importable but installed without metadata (e.g. bundled): accept it
    return version_tuple(installed) >= version_tuple(requirement.minimum)


def missing_requirements() -> list[Requirement]:
    """The requirements that are not installed (or too old), in a stable order."""
    return [requirement for requirement in read_requirements() if not is_satisfied(requirement)]


def missing_message(missing: Sequence[Requirement]) -> str:
    """One clear sentence naming the missing packages and what installing them takes."""
    names = ", ".join(str(requirement) for requirement in missing)
    return (f"SPECTFewShot needs these Python packages: {names}. Installing them needs a network connection and "
            "may take several minutes; Slicer stays usable meanwhile.")


def slicer_owned_constraints() -> str:
    """pip constraints pinning the Slicer-owned distributions to the versions installed now (one per line)."""
    lines = []
    for distribution in SLICER_OWNED:
        try:
            lines.append(f"{distribution}=={importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            continue  # not a pip distribution here (Slicer's VTK): nothing pip could upgrade
    return "\n".join(lines) + "\n"


def pip_arguments(requirements: Sequence[Requirement]) -> str:
    """The argument text for Slicer's `pip_install`: the requirements and `-c` a constraints file that pins
    Slicer's own packages (written to a temporary file that pip reads)."""
    import shlex
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix="-slicer-constraints.txt", delete=False, encoding="utf-8") as file:
        file.write(slicer_owned_constraints())
    return " ".join([*(str(requirement) for requirement in requirements), "-c", shlex.quote(file.name)])


def ensure_in_slicer(slicer_module: Any, ask: bool = True) -> bool:
    """True when the Python packages are there. Otherwise, after the user agreed, install them (torch through the
    PyTorch extension, the rest with pip in the background, Slicer's own packages pinned) and return False until
    they are installed. In testing mode nothing is installed: it raises, naming the missing packages."""
    missing = missing_requirements()
    if not missing:
        return True
    names = ", ".join(str(requirement) for requirement in missing)
    if slicer_module.app.testingEnabled():
        raise RuntimeError(f"SPECTFewShot needs {names}; tests never install packages")
    if ask and not slicer_module.util.confirmOkCancelDisplay(missing_message(missing) + "\n\nInstall them now?",
                                                            "Install Python packages"):
        return False
    torch_missing = [r for r in missing if r.distribution in TORCH_DISTRIBUTIONS]
    others = [r for r in missing if r.distribution not in TORCH_DISTRIBUTIONS]
    if torch_missing:
        install_torch_in_slicer(torch_missing, slicer_module)
    if others:
        install_in_slicer(others, lambda code: slicer_module.util.infoDisplay(
            "The Python packages are installed: run the step again." if code == 0 else
            "Installing the Python packages failed; see the Python console."), slicer_module)
        return False
    still = missing_requirements()
    if still:
        raise RuntimeError("These packages could not be installed: " + ", ".join(str(r) for r in still))
    return True


def install_in_slicer(requirements: Sequence[Requirement], completed: Callable[[int], Any],
                      slicer_module: Optional[Any] = None) -> None:
    """Install pip requirements with Slicer's helpers, without blocking the application where Slicer allows it.

    `completed(return_code)` runs when pip has finished (0 = success). Where `slicer.util.pip_install` takes
    `blocking=False, completedCallback=...` it installs in the background; older Slicer installs blocking, then
    calls `completed`. Either way the text carries `-c` the constraints that pin Slicer's own packages.
    """
    if slicer_module is None:
        import slicer as slicer_module
    text = pip_arguments(requirements)
    try:
        slicer_module.util.pip_install(text, blocking=False, completedCallback=completed, requester="SPECTFewShot")
    except TypeError:  # a Slicer whose pip_install has no non-blocking mode
        try:
            slicer_module.util.pip_install(text)
        except Exception:  # pip failed: report it through the return code, as the non-blocking install does
            completed(1)
            return
        completed(0)


def install_torch_in_slicer(requirements: Sequence[Requirement], slicer_module: Optional[Any] = None) -> None:
    """torch through the PyTorch extension's PyTorchUtils (the build for the GPU driver), else through pip."""
    if slicer_module is None:
        import slicer as slicer_module
    try:
        import PyTorchUtils
    except ImportError:
        slicer_module.util.pip_install(pip_arguments(requirements))
        return
    versions = {requirement.distribution: f">={requirement.minimum}" for requirement in requirements}
    if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                     torchVersionRequirement=versions.get("torch", ">=2.1")) is None:
        raise RuntimeError("PyTorch could not be installed by the PyTorch extension")
