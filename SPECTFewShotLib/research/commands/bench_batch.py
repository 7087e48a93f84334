"""`spectfewshot bench batch`: a cohort of 12 small studies on Dask with 1 worker and with 2 workers, next to the
same studies through classify + localize + polar-map in one process, in the same run.

Studies: the condition crops of the real studies (24^3, 32^3 and 48^3 around the LV of patient001 and patient003, as
they are and as low-count copies: 12 when both studies are there), each painted on its three quartile slices
(myocardium, blood pool, background), its drawn wall as the Dice's reference, the other patient's crop of the same
size (its landmarks from its wall) as the template. Timed, RUNS times in turn, medians:
- one process: the `classify`, `localize` and `polar-map` commands for every study, in a process that ran one
  study before (imports and model loaded), as a user's shell loop would without the process start-ups;
- batch on a warm local cluster of 1 worker, then of 2 workers (each worker ran one study first): the whole
  `run_batch` (hashing the inputs, one Dask task per study, reading back the rows, cohort.csv and the cohort polar
  map);
- fixed costs, once: starting a local cluster of 2 workers, and a worker's first study (imports, weights);
- Dask's own cost per task: 400 empty tasks through the warm 2-worker cluster.
The per-study outputs of both batches must equal the one-process outputs (segments.csv, landmarks, classes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

TARGET_SPEEDUP = 1.7
TARGET_OVERHEAD = 0.10
EMPTY_TASKS = 400


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bench batch`."""
    parser.add_argument("--runs", type=int, default=3, help="runs of each arm, in turn (default: %(default)s)")
    parser.add_argument("-o", "--output", metavar="REPORT.md", help="also write the report as Markdown")
    parser.add_argument("--work-dir", metavar="DIR", help="keep the studies and results here (default: temporary)")
    parser.set_defaults(func=run)


def write_studies(folder: Path) -> list:
    """The bench's studies written into `folder`; returns their StudyInputs."""
    import numpy as np

    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
    from SPECTFewShotLib.cohort.manifest import StudyInputs
    from SPECTFewShotLib.io.markups_io import write_landmarks
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
    from SPECTFewShotLib.io.volume_io import write_volume
    from SPECTFewShotLib.research.evaluation.cases import MYOCARDIUM, condition_cases
    from SPECTFewShotLib.selftest.painting import paint

    cases = condition_cases()
    written = []
    for number, (group, case) in enumerate(cases):
        name = f"s{number:02d}"
        write_volume(case.volume, folder / f"{name}.nii.gz")
        segments = segments_for(case.classes, case.class_names)
        support = paint(case.class_map, case.slices, "slices")
        write_segmentation(Segmentation(case.volume.with_array(support), segments), folder / f"{name}_paint.seg.nrrd")
        wall = Segmentation(case.volume.with_array((case.class_map == MYOCARDIUM).astype(np.uint8)),
                            segments_for([1], {1: "LV_myocardium"}))
        write_segmentation(wall, folder / f"{name}_wall.seg.nrrd")
        write_landmarks(lv_landmarks(wall.labels), folder / f"{name}_lm.mrk.json")
        written.append((name, group))
    studies = []
    for number, (name, group) in enumerate(written):
        size = group.split(", ")[1]
        others = [other for other, other_group in written if other != name and other_group.split(", ")[1] == size
                  and other_group.split(",")[0] != group.split(",")[0]] or [w for w, _ in written if w != name]
        template = others[0]
        patient = group.split(",")[0].removeprefix("real ")  # the cohort figure's groups: one per patient
        studies.append(StudyInputs(name, str(folder / f"{name}.nii.gz"), str(folder / f"{name}_paint.seg.nrrd"),
                                   str(folder / f"{name}_wall.seg.nrrd"), str(folder / f"{template}.nii.gz"),
                                   str(folder / f"{template}_lm.mrk.json"), patient, number + 2))
    return studies


def _one_process(studies, out: Path) -> tuple[float, float]:
    """classify + localize + polar-map of every study in this process, as the commands; wall and CPU seconds."""
    import contextlib
    import io

    from SPECTFewShotLib.cli import main

    started, cpu = time.perf_counter(), time.process_time()
    for study in studies:
        folder = out / study.id
        folder.mkdir(parents=True, exist_ok=True)
        for argv in (["classify", study.volume, "--support", study.paint, "-o", str(folder / "classes.seg.nrrd")],
                     ["localize", study.volume, "--template", study.template, "--template-landmarks",
                      study.template_landmarks, "-o", str(folder / "landmarks.mrk.json"), "--long-axis",
                      str(folder / "long_axis.mrk.json"), "--segmentation", str(folder / "classes.seg.nrrd")],
                     ["polar-map", study.volume, "--segmentation", str(folder / "classes.seg.nrrd"), "--landmarks",
                      str(folder / "landmarks.mrk.json"), "-o", str(folder)]):
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
            if code != 0:
                raise RuntimeError(f"{argv[0]} failed on {study.id}")
    return time.perf_counter() - started, time.process_time() - cpu


def _batch(studies, results: Path, address: str) -> tuple[float, list, float]:
    """run_batch on the cluster at `address`; wall seconds, rows, and CPU seconds of the workers and of this
    process (client and scheduler)."""
    import io

    from distributed import Client

    from SPECTFewShotLib.cohort.batch import run_batch
    from SPECTFewShotLib.cohort.runner import ClusterOptions
    from SPECTFewShotLib.cohort.study import StudySettings

    results.mkdir(parents=True)
    with Client(address) as client:
        before = sum(client.run(time.process_time).values())
        started, cpu = time.perf_counter(), time.process_time()
        result = run_batch(studies, results, StudySettings(), ClusterOptions(scheduler=address),
                           stream=io.StringIO())
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        cpu += sum(client.run(time.process_time).values()) - before
    return wall, result.rows, cpu


def _same_outputs(first: Path, second: Path, studies) -> bool:
    """Whether two result folders hold the same per-study segments.csv, landmarks and classes."""
    for study in studies:
        for name in ("segments.csv", "landmarks.mrk.json", "classes.seg.nrrd"):
            a, b = first / study.id / name, second / study.id / name
            if name == "classes.seg.nrrd":
                from SPECTFewShotLib.io.segmentation_io import read_segmentation

                if not (read_segmentation(a).labels.array == read_segmentation(b).labels.array).all():
                    return False
            elif a.read_text() != b.read_text():
                return False
    return True


def _empty(_: int) -> dict:
    return {}


def run(args: argparse.Namespace) -> int:
    """Time the arms in turn, then print (and write) the report."""
    import os
    import tempfile

    from SPECTFewShotLib.cohort.runner import local_cluster
    from SPECTFewShotLib.errors import InputError

    if args.runs < 1:
        raise InputError("--runs must be at least 1")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work_dir) if args.work_dir else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        inputs = work / "studies"
        inputs.mkdir(exist_ok=True)
        studies = write_studies(inputs)
        warm, timed = studies[0], studies
        _one_process([warm], work / "warm-up")
        started = time.perf_counter()
        with local_cluster(2, 1, dashboard=False) as cluster:
            start_s = time.perf_counter() - started
            started = time.perf_counter()
            _batch([warm], work / "warm-2", cluster.scheduler_address)
            first_study_s = time.perf_counter() - started
        times: dict[str, list[float]] = {"one process": [], "1 worker": [], "2 workers": []}
        cpus: dict[str, list[float]] = {arm: [] for arm in times}
        same = True
        for run_number in range(args.runs):
            one_dir = work / f"one-process-{run_number}"
            seconds, cpu = _one_process(timed, one_dir)
            times["one process"].append(seconds)
            cpus["one process"].append(cpu)
            for workers in (1, 2):
                with local_cluster(workers, 1, dashboard=False) as cluster:
                    _batch([warm], work / f"warm-{workers}-{run_number}", cluster.scheduler_address)
                    seconds, rows, cpu = _batch(timed, work / f"batch-{workers}-{run_number}",
                                                cluster.scheduler_address)
                    if any(row["status"] != "ok" for row in rows):
                        raise RuntimeError(f"a study failed in the batch: {[r for r in rows if r['status'] != 'ok']}")
                    if workers == 2 and run_number == 0:
                        per_task = _dask_per_task(cluster.scheduler_address)
                times[f"{workers} worker{'s' if workers > 1 else ''}"].append(seconds)
                cpus[f"{workers} worker{'s' if workers > 1 else ''}"].append(cpu)
                same &= _same_outputs(one_dir, work / f"batch-{workers}-{run_number}", timed)
        medians = {arm: statistics.median(values) for arm, values in times.items()}
        cpu_medians = {arm: statistics.median(values) for arm, values in cpus.items()}
        full = _full_size_studies(work)
        hashing = _client_side(studies, work)
        table_s = _cohort_outputs(rows, work)
    n = len(timed)
    speedup = medians["1 worker"] / medians["2 workers"]
    overhead = medians["1 worker"] / medians["one process"] - 1.0
    lines = [
        f"bench batch: {n} studies (condition crops 24^3-48^3 of the real studies, 3 painted slices, a template), "
        f"{args.runs} runs of each arm in turn, medians; {os.cpu_count()} cores",
        "",
        "| arm | seconds for the cohort (median) | per study | runs | CPU seconds (median) | cores kept busy |",
        "|---|---|---|---|---|---|",
    ]
    for arm, values in times.items():
        lines.append(f"| {arm} | {medians[arm]:.2f} | {medians[arm] / n:.3f} | "
                     f"{', '.join(f'{v:.2f}' for v in values)} | {cpu_medians[arm]:.2f} | "
                     f"{cpu_medians[arm] / medians[arm]:.2f} |")
    lines += [
        "",
        f"- 2 workers against 1: {speedup:.2f}x faster "
        f"({'meets' if speedup >= TARGET_SPEEDUP else 'misses'} the {TARGET_SPEEDUP:g}x target)",
        f"- batch with 1 worker against one process: {100 * overhead:+.1f} % per study "
        f"({'meets' if overhead <= TARGET_OVERHEAD else 'misses'} the {100 * TARGET_OVERHEAD:g} % target); in CPU "
        f"seconds (workers, client and scheduler together): "
        f"{100 * (cpu_medians['1 worker'] / cpu_medians['one process'] - 1):+.1f} %",
        f"- fixed costs, once per batch: local cluster of 2 workers started in {start_s:.2f} s; a worker's first "
        f"study (imports, weights) {first_study_s:.2f} s",
        f"- Dask's own cost per task ({EMPTY_TASKS} empty tasks, 2 warm workers): {1000 * per_task:.2f} ms",
        f"- the client's work before submitting (content hash of every input, the records read): "
        f"{1000 * hashing:.1f} ms per study; cohort.csv and the cohort polar map for {TABLE_ROWS} rows: "
        f"{table_s:.2f} s",
        "- full-size studies (the two real studies, 70 x 70 x 50 voxels; a template; one warm process): "
        + (", ".join(f"{name} {seconds:.2f} s ({cpu:.2f} CPU s)" for name, seconds, cpu in full) or "not available")
        + " for classify + localize + polar-map",
        f"- per-study outputs of both batches equal the one-process commands' outputs: {'yes' if same else 'NO'}",
        f"- 2 workers against the commands in one process (a shell loop without process start-ups): "
        f"{medians['one process'] / medians['2 workers']:.2f}x faster",
    ]
    if full:
        core_s = statistics.mean(cpu for _, _, cpu in full)
        lines += ["", f"Estimate for {ESTIMATE_STUDIES:,} full-size studies ({core_s:.2f} CPU seconds each, the mean "
                  "of the two above), one core per worker, from the figures above:", ""]
        first_s = first_study_s + core_s  # a worker's first study: its imports and weights on top of a study
        lines += [f"- {workers} worker{'s' if workers > 1 else ''}: "
                  f"{_duration(estimate_seconds(workers, core_s, start_s, first_s, hashing, per_task, table_s))}"
                  for workers in ESTIMATE_WORKERS]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.output:
        from SPECTFewShotLib.io.atomic import write_text_atomic
        from SPECTFewShotLib.research.commands import provenance_line

        write_text_atomic(args.output, f"{provenance_line()}\n\n{text}")
        print(f"wrote {args.output}")
    return 0


TABLE_ROWS = 10_000
ESTIMATE_STUDIES = 10_000
ESTIMATE_WORKERS = (1, 16, 256)


def estimate_seconds(workers: int, study_s: float, start_s: float, first_s: float, client_s: float,
                     task_s: float, table_s: float, studies: int = ESTIMATE_STUDIES) -> float:
    """Wall time of a batch: starting the cluster, the client hashing every study (before submitting), the
    workers' first studies (imports, weights; in parallel), the remaining rounds of one study per worker, and the
    cohort table and figure; never less than the scheduler's own time for every task (it handles one at a time)."""
    rounds = -(-studies // workers)
    compute = first_s + (rounds - 1) * study_s
    return start_s + studies * client_s + max(compute, studies * task_s) + table_s


def _duration(seconds: float) -> str:
    """Seconds as h:mm:ss (and in minutes)."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d} ({seconds / 60:.1f} min)"


def _full_size_studies(work: Path) -> list[tuple[str, float, float]]:
    """Wall and CPU seconds (medians of 3) of the three commands on each whole real study (the other as template),
    in this warm process."""
    import numpy as np

    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
    from SPECTFewShotLib.cohort.manifest import StudyInputs
    from SPECTFewShotLib.io.markups_io import write_landmarks
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
    from SPECTFewShotLib.io.volume_io import write_volume
    from SPECTFewShotLib.research.evaluation.cases import SHARED_STUDIES, shared_study_case, shared_study_paths
    from SPECTFewShotLib.selftest.painting import paint

    folder = work / "full"
    folder.mkdir(exist_ok=True)
    names = [p for p in SHARED_STUDIES if shared_study_paths(p) is not None]
    if len(names) < 2:
        return []
    for patient in names:
        case = shared_study_case(patient)
        write_volume(case.volume, folder / f"p{patient}.nii.gz")
        support = paint(case.class_map, case.slices, "slices")
        write_segmentation(Segmentation(case.volume.with_array(support), segments_for(case.classes,
                                                                                      case.class_names)),
                           folder / f"p{patient}_paint.seg.nrrd")
        wall = Segmentation(case.volume.with_array((case.class_map == 2).astype(np.uint8)),
                            segments_for([1], {1: "LV_myocardium"}))
        write_landmarks(lv_landmarks(wall.labels), folder / f"p{patient}_lm.mrk.json")
    out = []
    for patient, template in zip(names, names[1:] + names[:1]):
        study = StudyInputs(f"p{patient}", str(folder / f"p{patient}.nii.gz"),
                            str(folder / f"p{patient}_paint.seg.nrrd"), None, str(folder / f"p{template}.nii.gz"),
                            str(folder / f"p{template}_lm.mrk.json"))
        runs = [_one_process([study], folder / f"run{k}") for k in range(3)]
        out.append((f"patient{patient}", statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)))
    return out


def _client_side(studies, work: Path) -> float:
    """Seconds per study for what the client does before submitting: hashing the inputs, reading the records."""
    from SPECTFewShotLib.cohort.batch import make_tasks
    from SPECTFewShotLib.cohort.study import StudySettings, _file_digest, reusable_row

    _file_digest.cache_clear()
    started = time.perf_counter()
    for task in make_tasks(studies, work / "plan", StudySettings()):
        reusable_row(task, False)
    return (time.perf_counter() - started) / len(studies)


def _cohort_outputs(rows: list, work: Path) -> float:
    """Seconds to write cohort.csv and the cohort polar map for TABLE_ROWS rows (the bench's rows repeated)."""
    from SPECTFewShotLib.cohort.figure import write_cohort_figure
    from SPECTFewShotLib.cohort.table import write_cohort_table

    many = [{**rows[k % len(rows)], "id": f"study{k:05d}"} for k in range(TABLE_ROWS)]
    folder = work / "table"
    folder.mkdir(exist_ok=True)
    started = time.perf_counter()
    write_cohort_table(many, folder)
    write_cohort_figure(many, folder / "cohort_polar_map.png")
    return time.perf_counter() - started


def _dask_per_task(address: str) -> float:
    """Seconds per empty task through the scheduler (submit to result), on warm workers."""
    from distributed import Client, wait

    with Client(address) as client:
        wait(client.map(_empty, range(20)))  # warm
        started = time.perf_counter()
        futures = client.map(_empty, range(EMPTY_TASKS), pure=False)
        wait(futures)
        client.gather(futures)
        return (time.perf_counter() - started) / EMPTY_TASKS
