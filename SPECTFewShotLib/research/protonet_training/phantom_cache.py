"""Phantom studies generated once and kept on disk, keyed by seed, configuration and the simulator's own source.

Simulating a study takes seconds; training draws thousands of episodes from a few hundred studies. The cache
folder name includes a hash of the phantom package's source files and of the configuration, so a changed
simulator never serves stale studies.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from SPECTFewShotLib.volume import Volume

log = logging.getLogger(__name__)

PHANTOM_PACKAGE = Path(__file__).resolve().parent.parent / "phantom"


@dataclass(frozen=True, eq=False)
class CachedStudy:
    """A phantom study reduced to what classification needs: the image and the tissue label map [k, j, i]."""

    seed: int
    image: Volume
    tissues: np.ndarray  # phantom label values (0 = outside the body)
    label_values: dict[str, int]


def default_cache_dir() -> Path:
    """$SPECTFEWSHOT_CACHE, else $XDG_CACHE_HOME/spectfewshot, else ~/.cache/spectfewshot; then /phantoms."""
    root = os.environ.get("SPECTFEWSHOT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "spectfewshot")
    return Path(root) / "phantoms"


def simulator_fingerprint(config: object | None) -> str:
    """A short hash of the phantom package's sources and the configuration."""
    digest = hashlib.sha256()
    for path in sorted(PHANTOM_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PHANTOM_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(repr(asdict(config) if config is not None else None).encode())
    return digest.hexdigest()[:16]


def load_study(seed: int, config: object | None = None, cache_dir: Optional[Path] = None) -> CachedStudy:
    """The phantom study of `seed` (generated and cached on first use)."""
    folder = (cache_dir or default_cache_dir()) / simulator_fingerprint(config)
    path = folder / f"seed{seed}.npz"
    if path.exists():
        try:
            return _read(path, seed)
        except (OSError, ValueError, KeyError) as error:
            log.warning("cached phantom %s unreadable (%s); generating it again", path.name, error)
    study = _generate(seed, config)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".seed{seed}.{os.getpid()}.npz"
    np.savez_compressed(tmp, image=study.image.array, tissues=study.tissues, spacing=study.image.spacing,
                        origin=study.image.origin, direction=study.image.direction,
                        names=np.array(list(study.label_values)), values=np.array(list(study.label_values.values())))
    os.replace(tmp, path)
    return study


def _generate(seed: int, config: object | None) -> CachedStudy:
    from SPECTFewShotLib.research.phantom import generate_study

    study = generate_study(seed, config)
    tissues = np.asarray(study.labels.labels.array, dtype=np.uint8)
    image = study.image
    return CachedStudy(seed, image.with_array(np.asarray(image.array, dtype=np.float32)), tissues,
                       dict(study.label_values))


def _read(path: Path, seed: int) -> CachedStudy:
    with np.load(path) as data:
        image = Volume(data["image"].astype(np.float32), tuple(data["spacing"]), tuple(data["origin"]),
                       tuple(data["direction"]))
        names = [str(n) for n in data["names"]]
        values = [int(v) for v in data["values"]]
        return CachedStudy(seed, image, data["tissues"].astype(np.uint8), dict(zip(names, values)))
