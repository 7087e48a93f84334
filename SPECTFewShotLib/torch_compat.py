"""The one place that imports torchvision, so that a CPU build of torch next to PyPI's torchvision still works.

PyPI's torchvision wheels are compiled against the CUDA build of torch. Next to a CPU build (PyTorch's CPU index,
or the small CPU wheel our development machines use) its compiled operators fail to load, and
``import torchvision`` stops with "operator torchvision::nms does not exist" while registering the Python fallback
of ``nms``. Declaring the two operator schemas it looks up (``torchvision::nms`` and ``torchvision::qnms``) with
``torch.library`` lets the import finish; the models (all we use) work, only ``torchvision.ops`` kernels stay
unavailable. The schemas are declared only after a normal import failed with exactly that message.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

log = logging.getLogger(__name__)

_MISSING_OPERATOR = "torchvision::nms does not exist"
_SCHEMAS = {
    "torchvision::nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "torchvision::qnms": "(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
}
_library_handles: list = []  # keep the torch.library.Library objects alive, or the definitions vanish


def import_torchvision() -> ModuleType:
    """Import torchvision, declaring its missing operator schemas first if the compiled ops cannot load."""
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as error:
        if _MISSING_OPERATOR not in str(error):
            raise
    log.debug("torchvision's compiled operators did not load next to this torch build; declaring their schemas")
    _declare_operator_schemas()
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the failed import left half-initialised modules behind
    return importlib.import_module("torchvision")


def _declare_operator_schemas() -> None:
    import torch

    library = torch.library.Library("torchvision", "FRAGMENT")
    for qualified, schema in _SCHEMAS.items():
        name = qualified.split("::", 1)[1]
        try:
            library.define(name + schema)
        except RuntimeError as error:  # already declared by a partial load: nothing to do
            log.debug("schema %s not declared: %s", qualified, error)
    _library_handles.append(library)
