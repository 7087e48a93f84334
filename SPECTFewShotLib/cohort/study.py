"""One study of a cohort, as one task: the single-study commands in a row, in the worker, and the study's record.

The task runs `spectfewshot classify` (when the study is painted), `localize` and `polar-map` through the CLI's own
parser and `run` functions, so `RESULTS/<id>/` holds exactly what those commands write (classes.seg.nrrd,
landmarks.mrk.json, long_axis.mrk.json, the three views, segments.csv, polar_map.png, views.png), and what they
print goes to `RESULTS/<id>/log.txt`. Without a template, `localize` places the LV landmarks by their definitions
on the study's own LV (its frame from the classified or drawn myocardium). The task reads its inputs from
their paths, writes its outputs itself and returns one small row (a dict) for the cohort table; it then writes
`study.json` (the row and the content hash of the inputs and settings) last, atomically: a study whose record
holds the current hash and whose outputs exist is finished, and a rerun skips it.

With both `paint` and `segmentation`, the classification drives the landmarks and the polar map and the drawn
segmentation is the reference of `dice_myocardium` (whole volume, painted voxels included).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .. import __version__
from ..errors import InputError, SPECTFewShotError, short_reason
from .manifest import StudyInputs

RECORD_FILE = "study.json"
LOG_FILE = "log.txt"
CLASSES_FILE = "classes.seg.nrrd"
LANDMARKS_FILE = "landmarks.mrk.json"
AXIS_FILE = "long_axis.mrk.json"
POLAR_FILES = ("short_axis.nii.gz", "vertical_long_axis.nii.gz", "horizontal_long_axis.nii.gz", "segments.csv",
               "polar_map.png", "views.png")
OK, FAILED = "ok", "failed"
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class StudySettings:
    """What every study of a batch shares: the polar map's options and the classifier's model and device."""

    threshold: Optional[float] = None
    normals: Optional[str] = None
    normal_sd: Optional[float] = None
    statistic: Optional[str] = None
    model: Optional[str] = None
    device: str = "auto"

    def polar_map_options(self) -> list[str]:
        """The polar-map command's options for these settings (defaults left to the command)."""
        options = []
        for flag, value in (("--threshold", self.threshold), ("--normals", self.normals),
                            ("--normal-sd", self.normal_sd), ("--statistic", self.statistic)):
            if value is not None:
                options += [flag, str(value)]
        return options

    def classify_options(self) -> list[str]:
        """The classify command's options for these settings."""
        return (["--model", self.model] if self.model else []) + ["--device", self.device]


@dataclass(frozen=True)
class StudyTask:
    """Everything a worker needs for one study: small (paths and settings), nothing large travels."""

    study: StudyInputs
    results: str
    settings: StudySettings = field(default_factory=StudySettings)
    input_hash: str = ""

    @property
    def folder(self) -> Path:
        """The study's output folder, RESULTS/<id>."""
        return Path(self.results) / self.study.id


def input_hash(study: StudyInputs, settings: StudySettings) -> str:
    """SHA-256 of the software version, the models' weights, the settings and the bytes of every input file
    (folders: every file)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": __version__, "models": models_fingerprint(settings.model),
                              "settings": asdict(settings), "group": study.group}, sort_keys=True).encode())
    named = [("volume", study.volume), ("paint", study.paint), ("segmentation", study.segmentation),
             ("template", study.template), ("template_landmarks", study.template_landmarks),
             ("normals", settings.normals)]
    for role, path in named:
        digest.update(f"\n{role}:".encode())
        if path:
            digest.update(_path_digest(Path(path)).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=8)
def models_fingerprint(model: Optional[str] = None) -> list:
    """The weights the commands use: each task's default model (id, SHA-256) and the chosen one (its registered
    SHA-256, or the digest of a weights file): new weights make every study run again."""
    from ..models.registry import list_models

    entries = list_models()
    chosen = [[e.task, e.id, e.sha256] for e in entries if e.default or (model is not None and e.id == model)]
    if model is not None and Path(model).is_file():
        chosen.append(["file", Path(model).name, _path_digest(Path(model))])
    return sorted(chosen)


def _path_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's file names and bytes (cached while size and time agree)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        status = file.stat()
        name = str(file.relative_to(path)) if path.is_dir() else ""
        digest.update(f"{name}\0{_file_digest(str(file.resolve()), status.st_size, status.st_mtime_ns)}".encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_outputs(study: StudyInputs) -> list[str]:
    """The files a finished study leaves in its folder (the record included)."""
    names = [LANDMARKS_FILE, AXIS_FILE, *POLAR_FILES, LOG_FILE, RECORD_FILE]
    return ([CLASSES_FILE] if study.paint else []) + names


def read_record(folder: Path) -> Optional[dict]:
    """A study's record (study.json), or None when it is missing or unreadable."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("row"), dict) else None


def reusable_row(task: StudyTask, retry_failed: bool) -> Optional[dict]:
    """The recorded row of a study that need not run again: same input hash and, when it succeeded, every output
    still there; a failure is kept unless `retry_failed`."""
    record = read_record(task.folder)
    if record is None or record.get("input_hash") != task.input_hash:
        return None
    row = record["row"]
    if row.get("status") == FAILED:
        return None if retry_failed else row
    if row.get("status") == OK and all((task.folder / name).exists() for name in expected_outputs(task.study)):
        return row
    return None


def run_study(task: StudyTask) -> dict:
    """Run one study (classify when painted, localize, polar-map) and return its cohort row; never raises for the
    study's own faults: the row says `failed` with the one-line error."""
    started = time.perf_counter()
    folder = task.folder
    row: dict[str, Any] = {"id": task.study.id, "group": task.study.group, "status": OK, "error": ""}
    log = io.StringIO()
    step = "prepare"
    try:
        _prepare_process()
        folder.mkdir(parents=True, exist_ok=True)
        _remove_previous_outputs(task)
        with _captured_stdout(log):
            segmentation = task.study.segmentation
            if task.study.paint:
                step = "classify"
                _command("classify", task.study.volume, "--support", task.study.paint, "-o",
                         str(folder / CLASSES_FILE), *task.settings.classify_options())
                segmentation = str(folder / CLASSES_FILE)
            step = "localize"
            _localize(task, segmentation)
            step = "polar-map"
            _command("polar-map", task.study.volume, "--segmentation", segmentation, "--landmarks",
                     str(folder / LANDMARKS_FILE), "-o", str(folder), *task.settings.polar_map_options())
            step = "measure"
            row.update(study_numbers(task, segmentation))
    except SPECTFewShotError as error:
        row.update(status=FAILED, error=f"{step}: {_one_line(str(error))}")
    except OSError as error:  # the system refused a file (permissions, a full disk): the user's to fix
        where = f"{error.filename}: " if error.filename else ""
        row.update(status=FAILED, error=f"{step}: {where}{(error.strerror or str(error)).lower()}")
    except Exception as error:  # a study must never stop the cohort: recorded in one line, like the CLI does
        row.update(status=FAILED, error=f"{step}: internal error ({type(error).__name__}: {short_reason(error)})")
    row["warnings"] = " | ".join(line[len("warning:"):].strip() for line in log.getvalue().splitlines()
                                 if line.startswith("warning:"))
    row["seconds"] = round(time.perf_counter() - started, 3)
    _write_study_files(task, row, log.getvalue())
    return row


def failed_row(task: StudyTask, error: str, seconds: float = 0.0) -> dict:
    """The row (recorded in study.json) of a study that never returned, e.g. whose worker died every time."""
    row = {"id": task.study.id, "group": task.study.group, "status": FAILED, "error": _one_line(error),
           "seconds": round(seconds, 3)}
    with contextlib.suppress(OSError, SPECTFewShotError):
        task.folder.mkdir(parents=True, exist_ok=True)
        _write_record(task, row)
    return row


def study_numbers(task: StudyTask, segmentation: str) -> dict:
    """The cohort row's numbers, read back from the written outputs: class volumes (mL), the reference Dice, the LV
    length and landmark confidences, the 17 segment uptakes and reduced flags."""
    import numpy as np

    from ..cardiac_views.analysis import check_same_grid, myocardium_mask
    from ..io.markups_io import read_landmarks
    from ..io.segmentation_io import read_segmentation
    from ..measurements import landmark_measurements

    numbers: dict[str, Any] = {}
    classes = read_segmentation(segmentation)  # on the study's grid: classify wrote it there, polar-map checked it
    labels = classes.labels
    for info in classes.segments:  # the volumes measurements.class_measurements gives, without reading the study
        numbers[f"{info.name}_ml"] = round(int(np.count_nonzero(labels.array == info.label)) * labels.voxel_volume_ml,
                                           3)
    if task.study.paint and task.study.segmentation:
        reference = read_segmentation(task.study.segmentation)
        try:
            check_same_grid(labels, reference)
        except InputError as error:
            raise InputError(f"the drawn segmentation (the Dice's reference): {error}") from None
        ours, truth = myocardium_mask(classes), myocardium_mask(reference)
        total = int(ours.sum()) + int(truth.sum())
        numbers["dice_myocardium"] = round(2.0 * int(np.logical_and(ours, truth).sum()) / total, 4) if total else 1.0
    for measurement in landmark_measurements(read_landmarks(task.folder / LANDMARKS_FILE)):
        if measurement.name.startswith("LV length"):
            numbers["lv_length_mm"] = round(measurement.value, 2)
        elif measurement.name.endswith(" confidence"):
            numbers[f"confidence_{measurement.name.removesuffix(' confidence')}"] = round(measurement.value, 3)
    with open(task.folder / "segments.csv", newline="", encoding="utf-8") as handle:
        segments = list(csv.DictReader(handle))
    for segment in segments:
        number = int(segment["segment"])
        numbers[f"uptake_{number:02d}"] = float(segment["uptake_percent"]) if segment["uptake_percent"] else ""
    for segment in segments:
        numbers[f"reduced_{int(segment['segment']):02d}"] = int(segment["reduced"])
    numbers["reduced_segments"] = sum(int(s["reduced"]) for s in segments)
    return numbers


# --- the commands, in this process ---------------------------------------------------------------------------------

_PARSER = None
_PARSER_LOCK = threading.Lock()
_PREPARED = False


def _parser():
    """The single-study commands' parser, as the CLI registers them (built once per worker process)."""
    global _PARSER
    with _PARSER_LOCK:
        if _PARSER is None:
            import argparse
            import importlib

            from ..commands import COMMAND_MODULES

            _PARSER = argparse.ArgumentParser(prog="spectfewshot")
            subparsers = _PARSER.add_subparsers(dest="command", metavar="COMMAND", required=True)
            for module_name in COMMAND_MODULES:
                importlib.import_module(f"{__package__.rsplit('.', 1)[0]}.commands.{module_name}").register(subparsers)
        return _PARSER


def _prepare_process() -> None:
    """What `spectfewshot` does once per process before a command: quiet ITK, no huge-page advice."""
    global _PREPARED
    if _PREPARED:
        return
    import SimpleITK as sitk

    from ..runtime.memory_pages import avoid_huge_page_advice

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    avoid_huge_page_advice()
    _PREPARED = True


def _command(*argv: str) -> None:
    """Run one `spectfewshot` command (its parser's defaults for every option not given)."""
    try:
        args = _parser().parse_args([str(a) for a in argv])
    except SystemExit:
        raise InputError(f"the {argv[0]} command line could not be built ({' '.join(map(str, argv))})") from None
    status = int(args.func(args) or 0)
    if status != 0:
        raise InputError(f"{argv[0]} ended with status {status}")


def _localize(task: StudyTask, segmentation: str) -> None:
    """`localize` with the study's (or the batch's) template, else without one (the LV landmarks by their
    definitions), the LV frame from the study's myocardium."""
    folder = task.folder
    template = ["--template", task.study.template, "--template-landmarks", task.study.template_landmarks] \
        if task.study.template else []
    _command("localize", task.study.volume, *template, "-o", str(folder / LANDMARKS_FILE), "--long-axis",
             str(folder / AXIS_FILE), "--segmentation", segmentation)


# --- files ---------------------------------------------------------------------------------------------------------

def _remove_previous_outputs(task: StudyTask) -> None:
    """A study run again starts from no outputs (never removing one of its inputs)."""
    inputs = {Path(p).resolve() for p in task.study.input_paths()}
    for name in [CLASSES_FILE, LANDMARKS_FILE, AXIS_FILE, *POLAR_FILES, RECORD_FILE]:
        path = task.folder / name
        if path.is_file() and path.resolve() not in inputs:
            path.unlink()


def _write_study_files(task: StudyTask, row: dict, log: str) -> None:
    from ..io.atomic import write_text_atomic

    with contextlib.suppress(OSError, SPECTFewShotError):
        write_text_atomic(task.folder / LOG_FILE, log)
        _write_record(task, row)


def _write_record(task: StudyTask, row: dict) -> None:
    from ..io.atomic import write_text_atomic

    record = {"id": task.study.id, "input_hash": task.input_hash, "software": f"SPECTFewShot {__version__}",
              "inputs": task.study.input_paths(), "row": row}
    write_text_atomic(task.folder / RECORD_FILE, json.dumps(record, indent=1, allow_nan=False) + "\n")


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


# --- what the commands print, per study even with several threads per worker --------------------------------------

class _ThreadStdout:
    """sys.stdout that sends each registered thread's writes to its own buffer, the rest to the real stdout."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.buffers: dict[int, io.StringIO] = {}

    def write(self, text: str) -> int:
        """Write to the calling thread's buffer, or to the real stdout."""
        buffer = self.buffers.get(threading.get_ident())
        return buffer.write(text) if buffer is not None else self.real.write(text)

    def flush(self) -> None:
        """Flush the real stdout."""
        self.real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


_STDOUT_LOCK = threading.Lock()


@contextlib.contextmanager
def _captured_stdout(buffer: io.StringIO):
    """Send this thread's prints to `buffer` while the block runs."""
    with _STDOUT_LOCK:
        if not isinstance(sys.stdout, _ThreadStdout):
            sys.stdout = _ThreadStdout(sys.stdout)
        router: _ThreadStdout = sys.stdout  # type: ignore[assignment]
    router.buffers[threading.get_ident()] = buffer
    try:
        yield
    finally:
        router.buffers.pop(threading.get_ident(), None)


TaskFunction = Callable[[StudyTask], dict]
