"""Which Python packages the library needs inside 3D Slicer, and which of them are missing (nothing is installed here).

Slicer owns numpy, SimpleITK and VTK: the extension never installs or upgrades them. torch comes through
the PyTorch extension's PyTorchUtils when it is there (it picks the build that matches the GPU driver); the rest
through pip, after the user agreed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass

# Distributions Slicer ships and updates itself; listed in pyproject.toml for the command line only.
SLICER_OWNED = ("numpy", "SimpleITK", "vtk")
# Installed through the PyTorch extension (PyTorchUtils) when it is present.
TORCH_DISTRIBUTIONS = ("torch",)


@dataclass(frozen=True)
class Requirement:
    """A distribution, the module it is imported as, and the lowest version the library works with."""

    distribution: str
    module: str
    minimum: str

    def __str__(self) -> str:
        return f"{self.distribution}>={self.minimum}"


# The pyproject.toml dependencies that Slicer does not own (a test keeps the two lists in step).
REQUIREMENTS = (
    Requirement("pydicom", "pydicom", "2.4"),
    Requirement("scipy", "scipy", "1.10"),
    Requirement("torch", "torch", "2.1"),
)


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
    return [requirement for requirement in REQUIREMENTS if not is_satisfied(requirement)]
