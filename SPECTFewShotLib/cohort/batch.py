"""A batch from start to end: the manifest checked, the finished studies kept, the rest run on Dask, then the
cohort table and the cohort polar map written beside the studies' folders."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

from ..errors import InputError
from .figure import COHORT_FIGURE, write_cohort_figure
from .manifest import StudyInputs
from .runner import ClusterOptions, run_tasks
from .study import StudySettings, StudyTask, input_hash, reusable_row, run_study
from .table import COHORT_CSV, COHORT_PARQUET, write_cohort_table


@dataclass
class BatchResult:
    """The cohort's rows (manifest order), how many studies ran and how many were kept, the files written."""

    rows: list[dict]
    ran: int
    kept: int
    written: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        """The rows of the studies that failed."""
        return [row for row in self.rows if row.get("status") != "ok"]


def results_folder(path: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> Path:
    """The results folder, created if missing; refused when it is a file or when a cohort output would overwrite
    an input."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output {folder} is a file; give a folder")
    if not folder.parent.exists():
        raise InputError(f"the folder {folder.parent} does not exist")
    sources = {Path(p).resolve() for p in inputs if Path(p).exists()}
    for name in (COHORT_CSV, COHORT_PARQUET, COHORT_FIGURE):
        if (folder / name).exists() and (folder / name).resolve() in sources:
            raise InputError(f"writing {name} into {folder} would overwrite an input; choose another folder")
    folder.mkdir(exist_ok=True)
    return folder


def make_tasks(studies: Sequence[StudyInputs], results: Path, settings: StudySettings) -> list[StudyTask]:
    """One task per study, with the content hash of its inputs and settings."""
    return [StudyTask(study, str(results), settings, input_hash(study, settings)) for study in studies]


def run_batch(studies: Sequence[StudyInputs], results: Path, settings: StudySettings, options: ClusterOptions,
              retry_failed: bool = False, stream: Optional[TextIO] = None, title: str = "",
              task_function: Callable[[StudyTask], dict] = run_study) -> BatchResult:
    """Keep the finished studies, run the others on Dask, write the cohort table and figure."""
    tasks = make_tasks(studies, results, settings)
    kept: dict[str, dict] = {}
    to_run = []
    for task in tasks:
        row = reusable_row(task, retry_failed)
        if row is not None:
            kept[task.study.id] = row
        else:
            to_run.append(task)
    if kept and stream is not None:
        failed = sum(row.get("status") != "ok" for row in kept.values())
        print(f"kept {len(kept)} {'study' if len(kept) == 1 else 'studies'} whose inputs, settings and weights have "
              f"not changed ({failed} of them failed"
              f"{'' if retry_failed or not failed else '; --retry-failed runs those again'})", file=stream)
    ran = {row["id"]: row for row in run_tasks(to_run, options, stream, task_function)}
    rows = [kept.get(task.study.id) or ran[task.study.id] for task in tasks]
    written = write_cohort_table(rows, results)
    figure = results / COHORT_FIGURE
    write_cohort_figure(rows, figure, title or "Cohort polar map")
    return BatchResult(rows, len(to_run), len(kept), [*written, figure])
