"""SPECTFewShot library: few-shot tissue classification and one-shot landmarks for SPECT volumes.

Importing the package is cheap (no torch, no Slicer); import the submodules you need.
"""

__version__ = "0.1.0"

from .errors import CancelledError, InputError, ModelError, SPECTFewShotError

__all__ = ["CancelledError", "InputError", "ModelError", "SPECTFewShotError", "__version__"]
