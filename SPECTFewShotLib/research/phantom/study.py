"""One simulated study from a seed: anatomy -> activity and attenuation -> projections -> OSEM -> Volume + truth."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
from SPECTFewShotLib.research.phantom.anatomy import LABEL_VALUES, Anatomy, sample_anatomy
from SPECTFewShotLib.research.phantom.config import PhantomConfig, axis_signs
from SPECTFewShotLib.research.phantom.landmarks import heart_landmarks, to_landmarks
from SPECTFewShotLib.research.phantom.motion import blurred_by_motion, sample_motion
from SPECTFewShotLib.research.phantom.physics.camera import CameraProtocol, orbit_radii, sample_protocol
from SPECTFewShotLib.research.phantom.rasterize import Grid, rasterize
from SPECTFewShotLib.research.phantom.texture import textured
from SPECTFewShotLib.runtime.progress import CancelToken, ProgressCallback, report
from SPECTFewShotLib.volume import Volume

log = logging.getLogger(__name__)
SLABS = 8  # depth slabs of the collimator blur; the simulation grid is a multiple of this


@dataclass(frozen=True, eq=False)
class PhantomStudy:
    """A simulated SPECT study with its exact ground truth (all geometry in LPS millimetres)."""

    image: Volume  # float32 reconstructed counts
    labels: Segmentation
    label_values: dict[str, int]
    landmarks: list[Landmark]
    seed: int
    config: PhantomConfig
    metadata: dict = field(default_factory=dict)  # drawn anatomy, uptake and camera protocol

    def landmark(self, name: str) -> Landmark:
        """The landmark with this label."""
        for landmark in self.landmarks:
            if landmark.label == name:
                return landmark
        raise KeyError(name)


@dataclass(frozen=True)
class _Layout:
    """Where the output grid lies inside the simulation grid (same voxels, cropped)."""

    simulation: Grid
    output: Grid
    start_j: int
    start_i: int


def generate_study(seed: int, config: Optional[PhantomConfig] = None, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None) -> PhantomStudy:
    """Simulate the study of `seed` (deterministic): reconstructed image, labels and landmarks."""
    import torch

    from SPECTFewShotLib.research.phantom.physics.acquisition import acquire
    from SPECTFewShotLib.research.phantom.physics.projector import CollimatorResolution, ProjectionGeometry, Projector
    from SPECTFewShotLib.research.phantom.reconstruction import gaussian_post_filter, osem

    config = config or PhantomConfig()
    streams = np.random.SeedSequence(int(seed)).spawn(6)
    anatomy_rng, camera_rng, noise_rng, placement_rng, texture_rng, motion_rng = (
        np.random.default_rng(s) for s in streams)
    anatomy = sample_anatomy(anatomy_rng, config.defect_probability, config.segment_defect)
    protocol = sample_protocol(camera_rng, config)
    layout = _layout(anatomy, protocol, config, placement_rng)
    report(progress, 0.02, "drawing the anatomy", cancel)

    painted = rasterize(anatomy, layout.simulation, config.supersample)
    activity = textured(painted.activity, painted.labels, layout.simulation.spacing, texture_rng)
    motion = sample_motion(motion_rng)
    activity = blurred_by_motion(activity, painted.labels, layout.simulation.spacing, motion)
    mu = painted.mu
    labels = _crop(painted.labels, layout, config.matrix)
    report(progress, 0.1, "simulating the acquisition", cancel)

    sim = layout.simulation
    angles = protocol.view_angles()
    outline = np.argwhere(mu.max(axis=0) > 0)[:, ::-1] * sim.spacing + sim.origin[:2]  # (x, y) of tissue
    radii = orbit_radii(protocol, angles, outline)
    geometry = ProjectionGeometry(angles, radii, sim.spacing, sim.shape)
    heart_distance = float(np.mean(radii - _heart_xy(anatomy) @ np.stack([np.cos(angles), np.sin(angles)])))
    resolution = CollimatorResolution.with_fwhm_at(protocol.system_fwhm_mm, heart_distance, protocol.intrinsic_mm,
                                                   protocol.collimator_offset_mm)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        true_system = Projector(geometry, mu, resolution, SLABS)
        measured = acquire(true_system, activity, protocol.counts, protocol.scatter_fraction,
                           protocol.scatter_fwhm_mm, noise_rng if config.noise else None)
        report(progress, 0.25, "reconstructing", cancel)
        model = true_system.variant(protocol.attenuation_correction, protocol.resolution_recovery)
        support = _reconstruction_support(layout, protocol, config.matrix)
        image = osem(model, measured.counts, protocol.iterations, protocol.subsets,
                     measured.scatter if protocol.scatter_correction else None, support,
                     lambda f, m: report(progress, 0.25 + 0.7 * f, m), cancel)
    finally:
        torch.set_num_threads(previous_threads)
    image = gaussian_post_filter(_crop(image, layout, config.matrix), protocol.post_filter_fwhm_mm, sim.spacing)
    if protocol.circular_fov:  # nothing is seen, so nothing is labelled, outside the CZT field of view
        centre = layout.output.origin[:2] + (config.matrix - 1) / 2.0 * sim.spacing
        seen = _cylinder(layout.output, 0.5 * config.matrix * sim.spacing, centre)
        image = image * seen
        labels = np.where(seen, labels, 0).astype(labels.dtype)
    image = np.clip(image, 0.0, None).astype(np.float32)

    offset = placement_rng.uniform(-50.0, 50.0, 3)
    landmarks = to_landmarks(heart_landmarks(anatomy.heart), offset)
    volume, label_volume = _volumes(image, labels, layout.output, offset, config)
    segmentation = Segmentation(label_volume, segments_for(sorted(LABEL_VALUES.values()),
                                                           {v: k for k, v in LABEL_VALUES.items()}))
    metadata = {"seed": int(seed), "protocol": protocol.as_dict(), "anatomy": anatomy.parameters,
                "motion": motion.as_dict(),
                "heart_distance_mm": round(heart_distance, 1), "counts_scale": measured.scale}
    report(progress, 1.0, "done", cancel)
    return PhantomStudy(volume, segmentation, dict(LABEL_VALUES), landmarks, int(seed), config, metadata)


def _crop(array: np.ndarray, layout: _Layout, matrix: int) -> np.ndarray:
    """The output grid's part of a simulation-grid array."""
    crop = array[:, layout.start_j:layout.start_j + matrix, layout.start_i:layout.start_i + matrix]
    return np.ascontiguousarray(crop)


def _heart_xy(anatomy: Anatomy) -> np.ndarray:
    heart = anatomy.heart
    return heart.to_patient(0.5 * heart.l_epi, 0.0, 0.0)[:2]


def _layout(anatomy: Anatomy, protocol: CameraProtocol, config: PhantomConfig, rng: np.random.Generator) -> _Layout:
    """The output grid (around the body or the heart, with jitter) and the simulation grid that holds the body."""
    v = protocol.voxel_mm
    n, slices = config.matrix, config.slice_count
    centre_xy = protocol.heart_centring * _heart_xy(anatomy) + rng.normal(0.0, 8.0, 2)
    shift = np.round(centre_xy / v).astype(int)  # output centre, in voxels from the body axis
    body = math.ceil(2.0 * (anatomy.body_radius + 2.0 * v) / v)
    m = max(body, n + 2 * int(np.abs(shift).max()) + 2)
    m = int(math.ceil(m / SLABS) * SLABS)
    heart_z = float(anatomy.heart.to_patient(0.5 * anatomy.heart.l_epi, 0.0, 0.0)[2])
    z_centre = heart_z + rng.uniform(-0.12, 0.12) * slices * v
    origin_z = z_centre - (slices - 1) / 2.0 * v
    origin_xy = -(m - 1) / 2.0 * v
    simulation = Grid(np.array([origin_xy, origin_xy, origin_z]), v, (slices, m, m))
    start = (m - n) // 2 + shift
    start = np.clip(start, 0, m - n)
    output = Grid(np.array([origin_xy + start[0] * v, origin_xy + start[1] * v, origin_z]), v, (slices, n, n))
    return _Layout(simulation, output, int(start[1]), int(start[0]))


def _reconstruction_support(layout: _Layout, protocol: CameraProtocol, matrix: int) -> np.ndarray:
    """Where OSEM may put activity: the whole simulation grid's inscribed cylinder, or for CZT cameras only the
    cylinder of the (heart-centred) output field of view, so that activity outside it is truncated as on a
    focused CZT camera (it piles up at the edge of the field of view)."""
    sim = layout.simulation
    if protocol.circular_fov:
        centre = layout.output.origin[:2] + (matrix - 1) / 2.0 * sim.spacing
        return _cylinder(sim, 0.5 * matrix * sim.spacing, centre)
    return _cylinder(sim, 0.5 * (sim.shape[1] - 1) * sim.spacing)


def _cylinder(grid: Grid, radius_mm: float, centre_xy: np.ndarray | None = None) -> np.ndarray:
    """Voxels within `radius_mm` of the z axis (or of centre_xy), as bool [k, j, i]."""
    k, j, i = grid.shape
    cx, cy = (0.0, 0.0) if centre_xy is None else (float(centre_xy[0]), float(centre_xy[1]))
    x = grid.origin[0] + np.arange(i) * grid.spacing - cx
    y = grid.origin[1] + np.arange(j) * grid.spacing - cy
    inside = (x[None, :] ** 2 + y[:, None] ** 2) <= radius_mm**2
    return np.broadcast_to(inside[None], (k, j, i))


def _volumes(image: np.ndarray, labels: np.ndarray, grid: Grid, offset: np.ndarray,
             config: PhantomConfig) -> tuple[Volume, Volume]:
    """The image and labels as Volumes in the requested direction (canonical arrays flipped where needed)."""
    signs = axis_signs(config.direction)
    origin = grid.origin + offset
    for axis_ijk, sign in enumerate(signs):
        if sign < 0:
            array_axis = 2 - axis_ijk
            image = np.flip(image, axis=array_axis)
            labels = np.flip(labels, axis=array_axis)
            origin = origin.copy()
            origin[axis_ijk] += (grid.shape[array_axis] - 1) * grid.spacing
    spacing = (grid.spacing,) * 3
    volume = Volume(np.ascontiguousarray(image, dtype=np.float32), spacing, tuple(origin), config.direction,
                    modality="NM", units="counts", source={"phantom": "SPECTFewShot simulator"})
    label_volume = Volume(np.ascontiguousarray(labels, dtype=np.uint8), spacing, tuple(origin), config.direction)
    return volume, label_volume
