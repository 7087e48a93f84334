"""An MCAT-like torso drawn from a seed: body, spine, breasts, lungs, liver, spleen, stomach, gut, kidneys, heart.

Patient millimetres: x toward the patient's left, y posterior, z superior (LPS), body axis at x = y = 0 and the
LV centre at z = 0. Structures are painted in order, later ones over earlier ones (the heart last).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from SPECTFewShotLib.research.phantom.heart import (
    AtrialBlood,
    HalfEllipsoidCup,
    HeartGeometry,
    Myocardium,
    PerfusionDefect,
    RightVentricle,
    SegmentDefect,
    epicardial_samples,
)
from SPECTFewShotLib.research.phantom.shapes import (
    Ellipsoid,
    EllipticCylinder,
    HalfSpace,
    Intersection,
    Shape,
    rotation_about,
)
from SPECTFewShotLib.research.phantom.uptake import MU_BONE, MU_LUNG, MU_SOFT_TISSUE, UptakeRatios, sample_uptake
from SPECTFewShotLib.vocabulary import PHANTOM_LABEL_VALUES

# Label value of every tissue name: the vocabulary's table (a tissue may lie outside a given volume).
LABEL_VALUES = PHANTOM_LABEL_VALUES

# Coronary territories: centre angle (0 anterior, 90 septal, 180 inferior, 270 lateral) and apical range.
TERRITORIES = {
    "LAD": (35.0, (0.35, 1.05)),
    "RCA": (180.0, (0.0, 0.75)),
    "LCx": (270.0, (0.0, 0.8)),
}


@dataclass(frozen=True)
class Structure:
    """One painted structure: its label, shape, activity (relative to myocardium) and attenuation (1/mm)."""

    name: str
    label: str
    shape: Shape
    uptake: float
    mu: float
    modulation: Optional[Callable[[np.ndarray], np.ndarray]] = None  # uptake factor per point (myocardium)


@dataclass(frozen=True)
class Anatomy:
    """A drawn patient: painted structures in order, the heart geometry and the parameters drawn."""

    structures: tuple[Structure, ...]
    heart: HeartGeometry
    uptake: UptakeRatios
    body_axes: tuple[float, float]
    body_radius: float  # mm from the body axis that holds everything (breasts included)
    z_extent: tuple[float, float]  # lowest and highest z where the torso has organs of interest
    parameters: dict


def sample_anatomy(rng: np.random.Generator, defect_probability: float = 0.4,
                   segment_defect: Optional[SegmentDefect] = None) -> Anatomy:
    """Draw one patient's anatomy and uptake from `rng` (with `segment_defect` instead of a drawn defect)."""
    ax, ay = rng.uniform(150.0, 195.0), rng.uniform(100.0, 135.0)
    exponent = rng.uniform(2.0, 2.6)
    body = EllipticCylinder((0.0, 0.0), (ax, ay), exponent)
    chest_wall = rng.uniform(15.0, 30.0)
    inner_body = EllipticCylinder((0.0, 0.0), (ax - chest_wall, ay - chest_wall), exponent)

    heart = sample_heart(rng, ay, defect_probability, segment_defect)
    epi_points = epicardial_samples(heart)
    heart_bottom = float(epi_points[:, 2].min())

    gut_loops = int(rng.integers(0, 5))
    uptake = sample_uptake(rng, gut_loops)
    soft = MU_SOFT_TISSUE
    structures: list[Structure] = [Structure("body", "body", body, uptake.body, soft)]

    breasts = rng.uniform() < 0.45
    breast_reach = 0.0
    if breasts:
        size = rng.uniform(45.0, 75.0)
        depth = rng.uniform(35.0, 70.0)
        z_b = rng.uniform(-40.0, 10.0)
        for side in (-1, 1):
            center = np.array([side * rng.uniform(55.0, 85.0), -ay + 0.3 * depth, z_b])
            shape = Ellipsoid(center, np.array([size, depth, size * rng.uniform(0.9, 1.2)]))
            structures.append(Structure("breast", "body", shape, uptake.body, soft))
            breast_reach = max(breast_reach, float(np.hypot(abs(center[0]) + size, ay + 0.7 * depth)))

    spine_center = (0.0, ay - rng.uniform(40.0, 55.0))
    spine = EllipticCylinder(spine_center, (rng.uniform(15.0, 20.0), rng.uniform(14.0, 18.0)))
    structures.append(Structure("spine", "body", spine, uptake.bone, MU_BONE))

    for side, name in ((-1, "right lung"), (1, "left lung")):
        center = np.array([side * rng.uniform(0.42, 0.55) * ax, rng.uniform(0.0, 20.0), rng.uniform(30.0, 60.0)])
        axes = np.array([rng.uniform(0.30, 0.38) * ax, rng.uniform(0.65, 0.80) * ay, rng.uniform(120.0, 160.0)])
        lung = Intersection((Ellipsoid(center, axes), inner_body, HalfSpace(np.array([side * 12.0, 0.0, 0.0]),
                                                                              np.array([side, 0.0, 0.0]))))
        structures.append(Structure(name, "lungs", lung, uptake.lungs, MU_LUNG))

    stomach_center = np.array([rng.uniform(45.0, 80.0), rng.uniform(-25.0, 15.0),
                               heart_bottom - rng.uniform(30.0, 60.0)])
    stomach = Intersection((Ellipsoid(stomach_center, np.array([rng.uniform(40, 60), rng.uniform(30, 45),
                                                                  rng.uniform(45, 65)]),
                                      rotation_about("z", rng.uniform(-30, 30))), inner_body))
    structures.append(Structure("stomach", "stomach_gut", stomach, uptake.stomach, soft))

    spleen_center = np.array([min(rng.uniform(85.0, 115.0), ax - 45.0), min(rng.uniform(30.0, 70.0), ay - 35.0),
                              heart_bottom - rng.uniform(40.0, 80.0)])
    spleen = Intersection((Ellipsoid(spleen_center, np.array([rng.uniform(22, 32), rng.uniform(40, 55),
                                                                rng.uniform(45, 65)]),
                                     rotation_about("z", rng.uniform(-40, -10))), inner_body))
    structures.append(Structure("spleen", "spleen", spleen, uptake.spleen, soft))

    kidney_z = heart_bottom - rng.uniform(120.0, 170.0)
    for side in (-1, 1):
        center = np.array([side * rng.uniform(55.0, 75.0), ay - rng.uniform(50.0, 65.0),
                           kidney_z + (15.0 if side > 0 else 0.0)])
        kidney = Ellipsoid(center, np.array([rng.uniform(24, 30), rng.uniform(24, 30), rng.uniform(50, 60)]),
                           rotation_about("y", side * rng.uniform(5, 20)))
        structures.append(Structure("kidney", "kidneys", kidney, uptake.kidneys, soft))

    liver_gap = float(rng.uniform(0.0, 8.0) if rng.uniform() < 0.35 else rng.uniform(8.0, 30.0))
    liver_axes = np.array([rng.uniform(80.0, 110.0), min(rng.uniform(60.0, 85.0), 0.75 * ay),
                           rng.uniform(55.0, 75.0)])
    liver_rotation = rotation_about("y", rng.uniform(-20.0, 0.0))
    liver_xy = np.array([rng.uniform(-65.0, -35.0), rng.uniform(-10.0, 15.0)])
    liver_z = place_below(epi_points, liver_xy, liver_axes, liver_rotation, liver_gap)
    liver_ellipsoid = Ellipsoid(np.array([*liver_xy, liver_z]), liver_axes, liver_rotation)
    liver = Intersection((liver_ellipsoid, EllipticCylinder((0.0, 0.0), (ax - 12.0, ay - 12.0), exponent)))
    structures.append(Structure("liver", "liver", liver, uptake.liver, soft))

    for index, loop_uptake in enumerate(uptake.gut):
        center = np.array([rng.uniform(-50.0, 90.0), rng.uniform(-70.0, 30.0),
                           heart_bottom - rng.uniform(20.0, 140.0)])
        loop = Intersection((Ellipsoid(center, rng.uniform(12.0, 28.0, 3), rotation_about("z", rng.uniform(0, 180))),
                             inner_body))
        structures.append(Structure(f"gut loop {index + 1}", "stomach_gut", loop, loop_uptake, soft))

    structures += [
        Structure("atrial blood", "body", AtrialBlood(heart), uptake.blood, soft),
        Structure("RV wall", "RV_wall", RightVentricle(heart, inner=False), uptake.rv_wall, soft),
        Structure("RV blood pool", "RV_blood_pool", RightVentricle(heart, inner=True), uptake.blood, soft),
        Structure("LV blood pool", "LV_blood_pool", HalfEllipsoidCup(heart, heart.r_endo, heart.l_endo),
                  uptake.blood, soft),
        Structure("LV myocardium", "LV_myocardium", Myocardium(heart), 1.0, soft, heart.myocardial_uptake),
    ]
    body_radius = max(float(np.hypot(ax, 0.0)), float(ay), breast_reach)
    z_low = min(kidney_z - 60.0, heart_bottom - 160.0)
    parameters = {
        "body_axes_mm": [round(ax, 1), round(ay, 1)],
        "breasts": bool(breasts),
        "liver_gap_mm": round(liver_gap, 1),
        "gut_loops": gut_loops,
        "uptake": uptake.as_dict(),
        "heart": heart_parameters(heart),
    }
    return Anatomy(tuple(structures), heart, uptake, (ax, ay), body_radius, (z_low, 220.0), parameters)


def sample_heart(rng: np.random.Generator, body_ay: float, defect_probability: float,
                 segment_defect: Optional[SegmentDefect] = None) -> HeartGeometry:
    """Draw the LV/RV geometry: size, wall thickness, position, long-axis angles and perfusion defect; a given
    `segment_defect` replaces the drawn defect (the same draws are made, so the anatomy stays the seed's)."""
    r_endo = rng.uniform(20.0, 29.0)
    l_endo = rng.uniform(55.0, 75.0)
    wall = rng.uniform(16.0, 22.0)  # the wall as drawn on SPECT: the real masks are 16-18 mm (4-4.5 voxels)
    apex_wall = wall * rng.uniform(0.6, 1.0)
    azimuth = np.radians(rng.uniform(30.0, 65.0))  # from the patient's left toward anterior
    elevation = np.radians(rng.uniform(10.0, 40.0))  # below the horizontal plane
    axis = np.array([np.cos(elevation) * np.cos(azimuth), -np.cos(elevation) * np.sin(azimuth), -np.sin(elevation)])
    up = np.array([0.0, 0.0, 1.0])
    e_ant = up - (up @ axis) * axis
    e_ant /= np.linalg.norm(e_ant)
    e_sep = np.cross(axis, e_ant)
    roll = np.radians(rng.uniform(-20.0, 20.0))
    e_ant, e_sep = np.cos(roll) * e_ant + np.sin(roll) * e_sep, -np.sin(roll) * e_ant + np.cos(roll) * e_sep
    center = np.array([rng.uniform(20.0, 55.0), -body_ay + rng.uniform(65.0, 95.0), 0.0])
    l_epi = l_endo + apex_wall
    base_center = center - axis * 0.45 * l_epi
    r_epi = r_endo + wall
    defect = None
    if rng.uniform() < defect_probability:
        territory = str(rng.choice(list(TERRITORIES)))
        angle, (u_from, u_to) = TERRITORIES[territory]
        defect = PerfusionDefect(territory, angle + rng.uniform(-20.0, 20.0), rng.uniform(20.0, 60.0),
                                 u_from + rng.uniform(0.0, 0.2), u_to, rng.uniform(0.25, 0.7))
    if segment_defect is not None:
        defect = None
    return HeartGeometry(
        base_center=base_center, axis=axis, e_ant=e_ant, e_sep=e_sep, r_endo=r_endo, l_endo=l_endo, wall=wall,
        apex_wall=apex_wall, rv_u=0.35 * l_endo, rv_offset=rng.uniform(0.95, 1.1) * r_epi,
        rv_axes=(0.65 * l_endo, rng.uniform(0.55, 0.75) * r_epi, rng.uniform(1.35, 1.6) * r_epi),
        rv_wall=rng.uniform(3.5, 5.5), atrium_length=rng.uniform(20.0, 35.0),
        heterogeneity=(rng.uniform(0.0, 0.08), rng.uniform(0.0, 360.0)), defect=defect,
        segment_defect=segment_defect,
    )


def place_below(points: np.ndarray, center_xy: np.ndarray, axes: np.ndarray, rotation: np.ndarray,
                gap: float) -> float:
    """The highest centre z of an ellipsoid that stays `gap` mm (about) below every point (the LV epicardium)."""
    grown = axes + gap
    low, high = float(points[:, 2].min()) - 2 * grown[2] - 50.0, float(points[:, 2].max())
    for _ in range(40):
        z = 0.5 * (low + high)
        if Ellipsoid(np.array([*center_xy, z]), grown, rotation).contains(points).any():
            high = z
        else:
            low = z
    return low


def heart_parameters(heart: HeartGeometry) -> dict:
    """The heart's drawn parameters as plain numbers (for metadata)."""
    defect = None
    if heart.defect is not None:
        d = heart.defect
        defect = {"territory": d.territory, "center_deg": round(d.center_deg, 1),
                  "half_width_deg": round(d.half_width_deg, 1), "severity": round(d.severity, 2)}
    return {
        "cavity_radius_mm": round(heart.r_endo, 1),
        "cavity_length_mm": round(heart.l_endo, 1),
        "wall_mm": round(heart.wall, 1),
        "apex_wall_mm": round(heart.apex_wall, 1),
        "long_axis_lps": [round(float(v), 3) for v in heart.axis],
        "defect": defect,
        "segment_defect": None if heart.segment_defect is None else {
            "segments": list(heart.segment_defect.segments), "depth": round(heart.segment_defect.depth, 3)},
    }
