"""The research bench beside the product: phantoms, training, evaluation, benchmarks, baselines and the demo.

It makes and judges the models the product ships. It may import the product (`SPECTFewShotLib.*`); the product
never imports it, and Slicer does not ship it. Its extra packages come with `pip install "SPECTFewShot[research]"`.
"""

import importlib.util

# The packages of the `research` extra (pyproject.toml), by import name.
EXTRA_PACKAGES = ("matplotlib", "sklearn", "skimage", "slicer")


def missing_packages() -> list[str]:
    """Import names of the research extra's packages that are not installed."""
    return [name for name in EXTRA_PACKAGES if importlib.util.find_spec(name) is None]
