"""The MRML glue: everything that needs Slicer's own classes, imported lazily, one responsibility per file.

It runs inside the 3D Slicer application and, headless, on Kitware's `slicer-core` wheel, so it works through the
scene it is given, the MRML classes and the static methods of `vtkSlicerSegmentationsModuleLogic`, never through
`slicer.mrmlScene`. Geometry: MRML nodes hold RAS coordinates, the library's `Volume` holds LPS. A linear parent
transform of an input node is folded into the geometry that is read (world coordinates), and outputs are written in
world coordinates without a parent transform, so inputs under different transforms still meet in one space.

- `scene`: the `slicer` module, new scenes, VTK images and matrices, node fingerprints;
- `volumes`: scalar volume nodes; `segmentations`: segmentation nodes and the painting; `markups`: landmarks;
  `tables`: measurements; `images`: oriented images (the effect's voxels) as arrays; `long_axis_line`: the LV long
  axis's markups line; `cardiac_view_nodes`: the short- and long-axis view volumes, the polar-map image and segment
  table, and the slice views turned to them;
- `segment_editor_effect`: the Few-shot SPECT effect's logic and its preview (`FewShotEffectLogic`);
- `scene_logic`: `SceneLogic`, the logic that adapts a scene to the library (what the Slicer module calls).
"""

from .markups import landmarks_from_node, landmarks_to_node
from .scene import image_data, new_scene, node_fingerprint, slicer_module
from .scene_logic import SceneLogic, volume_digest
from .segmentations import (
    create_painting,
    paint_segment,
    painting_events,
    segment_infos,
    segmentation_from_node,
    segmentation_to_node,
)
from .tables import measurements_to_table, table_rows
from .volumes import volume_from_node, volume_to_node

__all__ = [
    "SceneLogic",
    "create_painting",
    "image_data",
    "landmarks_from_node",
    "landmarks_to_node",
    "measurements_to_table",
    "new_scene",
    "node_fingerprint",
    "paint_segment",
    "painting_events",
    "segment_infos",
    "segmentation_from_node",
    "segmentation_to_node",
    "slicer_module",
    "table_rows",
    "volume_digest",
    "volume_from_node",
    "volume_to_node",
]
