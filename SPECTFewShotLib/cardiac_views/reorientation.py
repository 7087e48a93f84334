"""Short-axis, vertical and horizontal long-axis volumes resampled along the LV long axis (METHODS section 9).

Each view is a `Volume` in the patient's LPS space (it overlays the original study exactly) whose voxel order
follows the display convention, so that column i runs to the right of the screen and row j downward:

- short axis (SA): slices k from the apex to the base; rows anterior (top) to inferior; columns septum (left) to
  lateral (right);
- vertical long axis (VLA): slices from the septum to the lateral wall; rows anterior (top) to inferior; columns
  base (left) to apex (right);
- horizontal long axis (HLA): slices from the inferior to the anterior wall; rows apex (top) to base (bottom);
  columns septum (left) to lateral (right).

The three share one grid (a cube around the axis, `margin_mm` beyond the apex and the base), so the study is
interpolated (trilinear) once and the long-axis views are the same voxels reordered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .frame import CardiacFrame

VIEWS = ("short_axis", "vertical_long_axis", "horizontal_long_axis")
VIEW_TITLES = {"short_axis": "SA", "vertical_long_axis": "VLA", "horizontal_long_axis": "HLA"}
DEFAULT_MARGIN_MM = 25.0
MAX_VOXELS_PER_SIDE = 256
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True, eq=False)
class CardiacViews:
    """The three reoriented volumes of one study."""

    short_axis: Volume
    vertical_long_axis: Volume
    horizontal_long_axis: Volume

    def items(self) -> list[tuple[str, Volume]]:
        """(view name, volume) in the order SA, VLA, HLA."""
        return [(name, getattr(self, name)) for name in VIEWS]


def view_axes(frame: CardiacFrame, view: str) -> np.ndarray:
    """3 x 3 matrix whose columns are the LPS directions of a view's i, j, k axes."""
    a, ant, sep = frame.axis, frame.anterior, frame.septal
    columns = {
        "short_axis": (-sep, -ant, a),
        "vertical_long_axis": (-a, -ant, -sep),
        "horizontal_long_axis": (-sep, a, ant),
    }
    if view not in columns:
        raise InputError(f"unknown view '{view}'; choose one of {', '.join(VIEWS)}")
    return np.stack(columns[view], axis=1)


def slice_to_ras(frame: CardiacFrame, view: str, center_lps: np.ndarray | None = None) -> np.ndarray:
    """4 x 4 SliceToRAS matrix of a Slicer slice view that shows `view` in its display convention: columns screen
    right, screen up, the normal toward the viewer, and the slice centre (RAS; default: the axis midpoint)."""
    axes = view_axes(frame, view)
    right, up = axes[:, 0], -axes[:, 1]
    matrix = np.eye(4)
    matrix[:3, 0] = _LPS_TO_RAS @ right
    matrix[:3, 1] = _LPS_TO_RAS @ up
    matrix[:3, 2] = np.cross(matrix[:3, 0], matrix[:3, 1])
    centre = frame.center if center_lps is None else np.asarray(center_lps, dtype=float)
    matrix[:3, 3] = _LPS_TO_RAS @ centre
    return matrix


def reorient(volume: Volume, frame: CardiacFrame, spacing_mm: float | None = None,
             margin_mm: float = DEFAULT_MARGIN_MM) -> CardiacViews:
    """Resample `volume` into SA, VLA and HLA volumes along `frame` (isotropic voxels, default: the finest
    spacing of the study)."""
    from scipy import ndimage

    spacing = float(spacing_mm) if spacing_mm is not None else float(min(volume.spacing))
    if not np.isfinite(spacing) or spacing <= 0:
        raise InputError("the voxel size of the views must be a positive number of millimetres")
    if margin_mm < 0:
        raise InputError("the margin around the LV must not be negative")
    side = frame.length_mm + 2.0 * margin_mm
    n = int(np.ceil(side / spacing)) + 1
    if n > MAX_VOXELS_PER_SIDE:
        raise InputError(f"the views would need {n} voxels per side; use a coarser spacing than {spacing:g} mm")
    sa_axes = view_axes(frame, "short_axis")
    corner = frame.center - sa_axes @ np.full(3, (n - 1) * spacing / 2.0)
    # SA voxel (i, j, k) -> study index: inv(study index-to-LPS) @ (corner + spacing * sa_axes @ (i, j, k)); the same
    # map in array order ([k, j, i] on both sides) is what affine_transform takes, so no coordinate grid is built.
    to_index = np.linalg.inv(volume.index_to_lps_matrix[:3, :3])
    reverse = np.eye(3)[::-1]
    matrix = reverse @ (to_index @ sa_axes * spacing) @ reverse
    offset = reverse @ (to_index @ (corner - np.asarray(volume.origin)))
    sa_array = ndimage.affine_transform(np.asarray(volume.array, dtype=np.float32), matrix, offset,
                                        output_shape=(n, n, n), order=1, mode="constant", cval=0.0,
                                        prefilter=False).astype(np.float32)
    source = {"view": "short_axis", "from": dict(volume.source)}
    sa = Volume(sa_array, (spacing,) * 3, tuple(corner), tuple(sa_axes.ravel()), volume.modality, volume.units,
                source)
    vla_array = np.ascontiguousarray(sa_array.transpose(2, 1, 0)[:, :, ::-1])
    hla_array = np.ascontiguousarray(sa_array.transpose(1, 0, 2)[::-1, :, :])
    vla = Volume(vla_array, (spacing,) * 3, tuple(sa.index_to_lps([0, 0, n - 1])),
                 tuple(view_axes(frame, "vertical_long_axis").ravel()), volume.modality, volume.units,
                 {**source, "view": "vertical_long_axis"})
    hla = Volume(hla_array, (spacing,) * 3, tuple(sa.index_to_lps([0, n - 1, 0])),
                 tuple(view_axes(frame, "horizontal_long_axis").ravel()), volume.modality, volume.units,
                 {**source, "view": "horizontal_long_axis"})
    return CardiacViews(sa, vla, hla)


def display_aligned(view: Volume, center_lps: np.ndarray) -> Volume:
    """A view as written to a file for reading: the same voxels on an axis-aligned grid (LPS identity direction)
    centred on `center_lps` (the LV centre), so that any viewer's axial slice view shows its slices as stored: in
    Slicer's Red view rows top to bottom and columns left to right, i.e. SA anterior up and septum left (slices apex
    to base), VLA anterior up and apex right, HLA apex up and septum left. The view no longer overlays the study in
    patient space (the Slicer module shows the patient-space views, overlaid, in its cardiac layout)."""
    k, j, i = view.array.shape
    half = np.asarray(view.spacing) * (np.array([i, j, k]) - 1) / 2.0
    origin = np.asarray(center_lps, dtype=float) - half
    source = {**view.source, "display": "axis-aligned copy of the view (LPS identity direction), not patient space"}
    return Volume(view.array, view.spacing, tuple(origin), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
                  view.modality, view.units, source)
