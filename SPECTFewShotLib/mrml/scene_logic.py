"""The logic that adapts a scene to the library: read nodes, run the classification and the localiser, write
new output nodes. The Slicer module's logic class delegates to it; tests drive it on a slicer-core scene."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..io.markups_io import Landmark
from ..io.segmentation_io import Segmentation
from ..io.volume_io import require_counts
from ..measurements import Measurement, class_measurements, landmark_measurements
from ..runtime.jobs import JobRunner, Work
from ..runtime.progress import CancelToken, ProgressCallback, report
from ..volume import Volume
from .markups import landmarks_from_node, landmarks_to_node
from .scene import _node_name
from .segmentations import segmentation_from_node, segmentation_to_node
from .tables import measurements_to_table
from .volumes import volume_from_node, volume_to_node

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import (
        vtkMRMLMarkupsFiducialNode,
        vtkMRMLMarkupsLineNode,
        vtkMRMLScalarVolumeNode,
        vtkMRMLScene,
        vtkMRMLSegmentationNode,
        vtkMRMLVectorVolumeNode,
    )

    from ..classification.session import StudySession

log = logging.getLogger(__name__)


def volume_digest(volume: Volume) -> str:
    """A fingerprint of a volume's voxels and geometry (the key of the feature cache)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(volume.array).tobytes())
    digest.update(repr((volume.array.dtype.str, volume.array.shape, volume.spacing, volume.origin,
                        volume.direction)).encode())
    return digest.hexdigest()


class SceneLogic:
    """The library's classifier and localiser run on the nodes of one MRML scene; outputs are new nodes.

    Reading nodes and writing outputs must happen on the thread that owns the scene; `compute_features`,
    `predict` and `find_landmarks` touch no MRML object and may run on a worker thread.
    """

    def __init__(self, scene: vtkMRMLScene, model: Optional[str] = None, device: str = "auto") -> None:
        self.scene = scene
        self.model = model
        self.device = device
        self.feature_computations = 0
        self.timings: dict[str, float] = {}  # seconds spent in each step of the latest classify / localize
        self._session: Any = None
        self._session_key: tuple = ()
        self._features_key: str | None = None
        self._localizer: Any = None
        # a template's segmentation with no study wall: the study's LV frame from its wall classified from the
        # template's (landmarks.template_segmentation); False: from the study's counts
        self.one_shot = True
        self._predicting = threading.Lock()
        self._computing = threading.Lock()  # one feature computation at a time: a second caller finds them cached
        self.long_axis_node: Optional[vtkMRMLMarkupsLineNode] = None  # the line node the latest `localize` wrote
        self.last_placement: Any = None  # the latest `localize`'s Placement (its frame, warnings; landmark_status)
        self.jobs = JobRunner()  # the module's and the effect's one job runner on this scene
        self.effect_segmentation_ids: set[str] = set()  # segmentations the Few-shot SPECT effect is previewing
        self.cardiac_views: Any = None  # the CardiacViewsLogic whose nodes every Show views reuses

    # -- configuration

    def configure(self, model: Optional[str] = None, device: str = "auto") -> None:
        """Choose the models and the device; cached features are dropped when the classifier changes."""
        self.model, self.device = model or None, device or "auto"

    # -- reading (scene thread)

    def read_volume(self, volume_node: vtkMRMLScalarVolumeNode, role: str = "input volume") -> Volume:
        """A volume node as a `Volume` holding counts (refuses empty or constant volumes)."""
        if volume_node is None:
            raise InputError(f"select the {role}")
        volume = volume_from_node(volume_node, f"{role} '{_node_name(volume_node, 'unnamed')}'")
        return require_counts(volume, f"{role} '{_node_name(volume_node, 'unnamed')}'")

    def read_support(self, support_node: vtkMRMLSegmentationNode, volume_node: vtkMRMLScalarVolumeNode) -> Segmentation:
        """The painted segments on the volume's grid; refuses empty and one-class painting."""
        if support_node is None:
            raise InputError("select the painted segmentation (the support)")
        name = f"'{_node_name(support_node, 'the painted segmentation')}'"
        if support_node.GetSegmentation().GetNumberOfSegments() == 0:
            raise InputError(f"{name} has no segments: paint at least two classes (e.g. LV_myocardium and "
                             "background) in the Segment Editor")
        support = segmentation_from_node(support_node, volume_node, f"segmentation {name}")
        painted = [info.name for info in support.segments]
        if not painted:
            raise InputError(f"nothing painted in {name} lies inside the volume: paint at least two classes "
                             "(e.g. LV_myocardium and background)")
        if len(painted) < 2:
            raise InputError(f"only one class ({painted[0]}) is painted in {name}: paint at least one more class "
                             "(e.g. background)")
        return support

    # -- computing (any thread; no MRML access)

    def study_session(self) -> StudySession:
        """The classification session this logic runs (one per model and device, its features cached)."""
        return self._classifier()

    def _classifier(self) -> StudySession:
        from ..classification.session import StudySession

        key = (self.model, self.device)
        if self._session is None or self._session_key != key:
            self._session = StudySession(model=self.model, device=self.device)
            self._session_key = key
            self._features_key = None
        return self._session

    def features_ready(self, volume: Volume) -> bool:
        """Whether the classifier's features of this volume are cached (a classification is then fast)."""
        return (self._session is not None and self._session_key == (self.model, self.device)
                and self._features_key == volume_digest(volume))

    def compute_features(self, volume: Volume, progress: Optional[ProgressCallback] = None,
                         cancel: Optional[CancelToken] = None) -> None:
        """Compute and cache the classifier's features of a volume (skipped when already cached)."""
        with self._computing:
            if self.features_ready(volume):
                return
            session = self._classifier()
            start = time.perf_counter()
            self._features_key = None
            session.set_volume(volume, progress=progress, cancel=cancel)
            self._features_key = volume_digest(volume)
            self.feature_computations += 1
            self.timings["features_s"] = time.perf_counter() - start

    def features_job_key(self, volume: Volume) -> tuple:
        """The job key of a volume's feature computation (the module and the effect join one running job)."""
        return ("features", self.model, self.device, volume_digest(volume))

    def predict(self, volume: Volume, support: Segmentation, stages: Optional[str] = None) -> Any:
        """Classify every voxel from the cached features and the painted support (a ClassificationResult); one
        classification at a time (a worker's and the scene thread's share the session)."""
        if not self.features_ready(volume):
            raise InputError("the volume's features are not computed yet")
        start = time.perf_counter()
        with self._predicting:
            session = self._classifier()
            session.set_support(support)
            result = session.predict(stages)
        self.timings["predict_s"] = time.perf_counter() - start
        return result

    def _landmark_finder(self) -> Any:
        from ..landmarks.staged import Localizer

        if self._localizer is None or self._localizer.one_shot != self.one_shot:
            self._localizer = Localizer(one_shot=self.one_shot)
        return self._localizer

    def find_landmarks(self, volume: Volume, templates: Sequence[tuple[Volume, Sequence[Landmark]]],
                       progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None
                       ) -> list[Landmark]:
        """Place the templates' landmarks (labels of the first template, a confidence per point) in a volume: one
        template's placement, or the geometric median per landmark of several templates' placements."""
        return self.place_landmarks(volume, templates, progress, cancel).landmarks

    def place_landmarks(self, volume: Volume, templates: Sequence[tuple[Volume, Sequence[Landmark]]],
                        progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                        myocardium: Optional[Volume] = None,
                        template_myocardia: Optional[Sequence[Optional[Volume]]] = None) -> Any:
        """`find_landmarks` with the LV long axis and the warnings for the user (a `landmarks.staged.Placement`);
        the LV frame comes from `myocardium` (a mask) when given, else (with `one_shot` and a template's myocardium)
        from the study's wall classified from the template's, else from the counts; each template's from its
        entry of `template_myocardia` (a mask or None)."""
        start = time.perf_counter()
        placement = self._landmark_finder().place(volume, templates, progress, cancel, myocardium,
                                                  template_myocardia)
        self.timings["localize_s"] = time.perf_counter() - start
        return placement

    # -- writing (scene thread)

    def write_classification(self, result: Any, volume_node: vtkMRMLScalarVolumeNode, output_node: Any = None,
                             probability_node: Optional[vtkMRMLVectorVolumeNode] = None) -> Any:
        """Write a ClassificationResult into a segmentation node (and the winning-class probability volume)."""
        start = time.perf_counter()
        name = f"{_node_name(volume_node, 'volume')} tissue classes"
        node = segmentation_to_node(result.labels, self.scene, name, output_node, volume_node)
        if probability_node is not None:
            labels = result.labels.labels
            confidence = np.asarray(result.probabilities, dtype=np.float32).max(axis=0)
            volume_to_node(labels.with_array(confidence), self.scene, node=probability_node)
        self.timings["write_s"] = time.perf_counter() - start
        return node

    # -- the scripting API

    def classify(self, volumeNode: vtkMRMLScalarVolumeNode, supportSegmentationNode: vtkMRMLSegmentationNode,
                 outputSegmentationNode: Optional[vtkMRMLSegmentationNode] = None,
                 probabilityVolumeNode: Any = None, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> Any:
        """Classify every voxel of the volume from the painted segments; returns the output segmentation node.

        The output (a new node unless one is given) carries the support's segment names and colors; the
        optional probability volume receives each voxel's winning-class probability. Features are cached, so
        classifying again after more painting only recomputes the prototypes.
        """
        start = time.perf_counter()
        self.timings = {}
        if outputSegmentationNode is not None and outputSegmentationNode is supportSegmentationNode:
            raise InputError("the output segmentation must not be the painted segmentation")
        if probabilityVolumeNode is not None and probabilityVolumeNode is volumeNode:
            raise InputError("the probability volume must not be the input volume")
        volume = self.read_volume(volumeNode)
        support = self.read_support(supportSegmentationNode, volumeNode)
        self.timings["read_s"] = time.perf_counter() - start
        report(progress, 0.0, "computing features", cancel)
        self.compute_features(volume, progress, cancel)
        result = self.predict(volume, support)
        node = self.write_classification(result, volumeNode, outputSegmentationNode, probabilityVolumeNode)
        self.timings["classify_s"] = time.perf_counter() - start
        report(progress, 1.0, "classified", cancel)
        return node

    def read_localization_inputs(self, volume_node: vtkMRMLScalarVolumeNode,
                                 template_volume_node: vtkMRMLScalarVolumeNode,
                                 template_landmarks_node: vtkMRMLMarkupsFiducialNode,
                                 more_templates: Sequence[tuple[Any, Any]] = (),
                                 output_landmarks_node: Optional[vtkMRMLMarkupsFiducialNode] = None
                                 ) -> tuple[Volume, list[tuple[Volume, list[Landmark]]]]:
        """The target volume and every template (volume, landmarks), checked: each template's landmarks inside its
        volume, and the output point list none of the templates' (it would overwrite one). A further template
        with neither node is skipped (an empty row of the module's panel); one with a single node is refused."""
        pairs = [(template_volume_node, template_landmarks_node), *more_templates]
        if output_landmarks_node is not None and any(output_landmarks_node is landmarks for _, landmarks in pairs):
            raise InputError("the output landmarks must not be the template landmarks")
        for number, (template, landmarks) in enumerate(more_templates, start=2):
            if (template is None) != (landmarks is None):
                raise InputError(f"template {number}: select both its volume and its landmarks")
        volume = self.read_volume(volume_node)
        return volume, [self.read_template(template_volume_node, template_landmarks_node),
                        *[self.read_template(template, landmarks) for template, landmarks in more_templates
                          if template is not None]]

    def read_template(self, template_volume_node: vtkMRMLScalarVolumeNode,
                      template_landmarks_node: vtkMRMLMarkupsFiducialNode) -> tuple[Volume, list[Landmark]]:
        """A template volume and its landmarks, checked (every landmark inside the volume)."""
        template = self.read_volume(template_volume_node, "template volume")
        landmarks = landmarks_from_node(template_landmarks_node, f"template landmarks "
                                        f"'{_node_name(template_landmarks_node, 'unnamed')}'")
        outside = [landmark.label for landmark in landmarks if not template.contains_lps(landmark.position_lps)]
        if outside:
            raise InputError(f"template landmarks {', '.join(outside)} lie outside the template volume")
        return template, landmarks

    def read_myocardium(self, segmentation_node: vtkMRMLSegmentationNode,
                        volume_node: vtkMRMLScalarVolumeNode) -> Optional[Volume]:
        """The LV myocardium of a segmentation node (its segment named LV_myocardium) as a mask on the volume's
        grid, for the landmarks' LV frame; None without a node or without such a segment (the frame then comes
        from the counts)."""
        from ..cardiac_landmarks import MIN_WALL_VOXELS
        from ..cardiac_views.analysis import is_myocardium_name

        if segmentation_node is None:
            return None
        content = segmentation_node.GetSegmentation()
        if not any(is_myocardium_name(content.GetNthSegment(n).GetName())
                   for n in range(content.GetNumberOfSegments())):
            return None  # checked on the node first: an empty node, or one without a myocardium, is optional input
        segmentation = segmentation_from_node(segmentation_node, volume_node)
        values = [value for value in segmentation.painted_labels()
                  if is_myocardium_name(segmentation.segment(value).name)]
        if not values:
            return None
        wall = segmentation.labels.array == values[0]
        return segmentation.labels.with_array(wall.astype(np.uint8)) if wall.sum() >= MIN_WALL_VOXELS else None

    def write_landmarks(self, landmarks: Sequence[Landmark], volume_node: vtkMRMLScalarVolumeNode,
                        output_node: Any = None) -> Any:
        """Write found landmarks into a point list node (new unless given)."""
        name = f"{_node_name(volume_node, 'volume')} landmarks"
        return landmarks_to_node(landmarks, self.scene, name, output_node)

    def write_placement(self, placement: Any, volume_node: vtkMRMLScalarVolumeNode, output_node: Any = None,
                        axis_node: Any = None) -> tuple[Any, Any]:
        """Write a placement: its landmarks into a point list node and its LV long axis into a line node (each new
        unless given; no line when the axis is unknown). Returns both nodes."""
        from .long_axis_line import long_axis_to_node

        points = self.write_landmarks(placement.landmarks, volume_node, output_node)
        if placement.long_axis is None:
            return points, axis_node
        name = f"{_node_name(volume_node, 'volume')} LV long axis"
        return points, long_axis_to_node(placement.long_axis, self.scene, name, axis_node)

    def localize(self, volumeNode: vtkMRMLScalarVolumeNode, templateVolumeNode: vtkMRMLScalarVolumeNode,
                 templateLandmarksNode: vtkMRMLMarkupsFiducialNode,
                 outputLandmarksNode: Optional[vtkMRMLMarkupsFiducialNode] = None,
                 progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None, moreTemplates: Sequence[tuple[Any, Any]] = (),
                 outputLongAxisNode: Any = None, segmentationNode: Optional[vtkMRMLSegmentationNode] = None,
                 templateSegmentationNode: Optional[vtkMRMLSegmentationNode] = None) -> Any:
        """Place the template's landmarks in the volume; returns a point list node (labels, confidences). The LV
        long axis goes into a line node (`outputLongAxisNode`, or a new one: `self.long_axis_node`).
        `moreTemplates`: further (volume node, point list node) templates; each landmark is then the geometric
        median of the templates' placements. `segmentationNode`: the study's classification (or any
        segmentation with an LV_myocardium segment); the LV frame then comes from that wall unless it does not look
        like an LV or disagrees with the counts' frame (then from the counts). `templateSegmentationNode`: the
        (first) template's, for its LV frame: give both so that the two frames come from the walls; given alone
        (and `self.one_shot`, the default), the study's frame comes from its wall classified by ProtoNet from the
        template's, checked against the counts' frame like a given wall. Which frame was
        used and the points to check: `landmark_status(self.last_placement)`."""
        work = self.landmark_work(volumeNode, templateVolumeNode, templateLandmarksNode, moreTemplates,
                                  outputLandmarksNode, segmentationNode, templateSegmentationNode)
        placement = self.last_placement = work(progress, cancel)
        points, self.long_axis_node = self.write_placement(placement, volumeNode, outputLandmarksNode,
                                                           outputLongAxisNode)
        return points

    # -- work for a worker thread, planned on the scene thread (the Slicer module's widget runs it)

    def feature_work(self, volume_node: vtkMRMLScalarVolumeNode,
                     support_node: vtkMRMLSegmentationNode) -> Optional[Work]:
        """Check the inputs now; the work that computes the volume's features, or None when they are cached."""
        volume = self.read_volume(volume_node)
        self.read_support(support_node, volume_node)  # bad painting is refused before any computation
        if self.features_ready(volume):
            return None
        return lambda progress, cancel: self.compute_features(volume, progress, cancel)

    def classification_work(self, volume_node: vtkMRMLScalarVolumeNode,
                            support_node: vtkMRMLSegmentationNode) -> Work:
        """Read and check the volume and the painting now; the work that classifies them from the cached features
        (it returns the ClassificationResult; `write_classification` shows it)."""
        volume = self.read_volume(volume_node)
        support = self.read_support(support_node, volume_node)
        if not self.features_ready(volume):
            raise InputError("the volume's features are not computed yet: click Classify once")
        return lambda progress, cancel: self.predict(volume, support)

    def landmark_work(self, volume_node: vtkMRMLScalarVolumeNode, template_volume_node: vtkMRMLScalarVolumeNode,
                      template_landmarks_node: vtkMRMLMarkupsFiducialNode,
                      more_templates: Sequence[tuple[Any, Any]] = (),
                      output_landmarks_node: Optional[vtkMRMLMarkupsFiducialNode] = None,
                      segmentation_node: Optional[vtkMRMLSegmentationNode] = None,
                      template_segmentation_node: Optional[vtkMRMLSegmentationNode] = None) -> Work:
        """Check the inputs now; the work that places the templates' landmarks (it returns the placement), in the
        LV frame of `segmentation_node`'s LV_myocardium when it has one, else (with `one_shot`) of the study's wall
        classified from `template_segmentation_node`'s, else of the counts (the first template's frame from
        `template_segmentation_node` likewise)."""
        volume, templates = self.read_localization_inputs(volume_node, template_volume_node, template_landmarks_node,
                                                          more_templates, output_landmarks_node)
        myocardium = self.read_myocardium(segmentation_node, volume_node)
        template_walls = [self.read_myocardium(template_segmentation_node, template_volume_node)] + \
            [None] * (len(templates) - 1)
        return lambda progress, cancel: self.place_landmarks(volume, templates, progress, cancel, myocardium,
                                                             template_walls)

    @staticmethod
    def landmark_status(placement: Any) -> str:
        """One line for the user: how many landmarks were placed, which LV frame was used (with the reason when a
        segmentation given was not used), the points to check (`landmarks.fusion.low_confidence_labels`) and any
        warning."""
        from ..landmarks.fusion import low_confidence_labels
        from ..landmarks.staged import frame_description

        frame, low = placement.frame, low_confidence_labels(placement.landmarks)
        source = frame_description(frame)
        if frame.source == "segmentation" and frame.note:
            source += f", {frame.note}"
        status = [f"Placed {len(placement.landmarks)} landmarks (LV frame from {source})",
                  f"check: {', '.join(low)}" if low else "no point flagged for checking"]
        return "; ".join(status + [warning for warning in placement.warnings if warning])

    def measure(self, volumeNode: vtkMRMLScalarVolumeNode, segmentationNode: Optional[vtkMRMLSegmentationNode] = None,
                landmarksNode: Optional[vtkMRMLMarkupsFiducialNode] = None,
                tableNode: Any = None) -> Any:
        """A table of per-class volume (mL) and mean counts, and landmark distances (e.g. LV length)."""
        if segmentationNode is None and landmarksNode is None:
            raise InputError("nothing to measure: give a segmentation or landmarks")
        rows: list[Measurement] = []
        if segmentationNode is not None:
            volume = self.read_volume(volumeNode)
            rows += class_measurements(volume, segmentation_from_node(segmentationNode, volumeNode))
        if landmarksNode is not None:
            rows += landmark_measurements(landmarks_from_node(landmarksNode))
        name = f"{_node_name(volumeNode, 'volume')} measurements"
        return measurements_to_table(rows, self.scene, name, tableNode)


_SCENE_LOGIC: dict[int, tuple[Any, SceneLogic]] = {}  # id(scene) -> (scene, its SceneLogic)


def scene_logic_for(scene: vtkMRMLScene, schedule: Any = None) -> SceneLogic:
    """The scene's one SceneLogic, shared by the module panel and the Segment Editor effect (one session, so a
    volume's features are computed once; one job runner, kept pumped by `schedule` when given: in Slicer
    `runtime.jobs.qt_schedule(qt)`). A new scene drops the old one's, cancelling its jobs. Creating it turns
    numpy's huge-page advice off for the application (`memory_pages`: live updates allocate fresh arrays at every
    stroke)."""
    entry = _SCENE_LOGIC.get(id(scene))
    if entry is None or entry[0] is not scene:
        from ..runtime.memory_pages import avoid_huge_page_advice

        avoid_huge_page_advice()
        for _, old in _SCENE_LOGIC.values():
            old.jobs.forget_all()
        _SCENE_LOGIC.clear()  # one application scene at a time
        entry = (scene, SceneLogic(scene))
        _SCENE_LOGIC[id(scene)] = entry
    if schedule is not None:
        entry[1].jobs.schedule = schedule
    return entry[1]
