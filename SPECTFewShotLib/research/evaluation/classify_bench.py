"""Time and peak memory of the study classifier next to GrowCut, on the same volume and paint, in one run.

Every measured step runs in a child process of its own, so that its peak resident memory is that step's alone:
the kernel's high-water mark of the child's resident set (VmHWM in /proc/PID/status, which counts torch's
native allocations, unlike tracemalloc), polled every 10 ms while it runs. (The child's ru_maxrss from wait4
would not do: it starts from the parent's resident set at the fork.) Times are medians over repeats.

Steps: "features" (StudySession.set_volume), "reclassify" (set_support with a changed support + predict with all
stages, from cached features), "reclassify learner" (the same without the graph cut), "GrowCut"
(vtkImageGrowCutSegment on the whole volume); then whole processes, one of each in turn per repeat (so a change in
the machine's load touches them alike): "classify process" (the whole `spectfewshot classify` command: start, read,
classify, write; the network by ONNX Runtime where installed), "classify process (torch)" (`--runtime torch`),
"classify --without-protonet process", "GrowCut process" (start, read, grow, write); and the imports ("import X":
`python -c "import X"`, next to "python start": `python -c pass`). Processes report their CPU seconds (user + system,
from wait4) beside their wall time: on a shared machine the CPU time moves less with the load.

Run as a module, this file is the child: `python -m SPECTFewShotLib.research.evaluation.classify_bench STEP VOLUME
SUPPORT OTHER_SUPPORT OUTPUT REPEATS RESULT.json`, writing {"seconds": [...]} to RESULT.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

STEPS = ("features", "reclassify", "reclassify learner", "GrowCut")
CLASSIFY_PROCESSES = {"classify process": [], "classify process (torch)": ["--runtime", "torch"],
                      "classify --without-protonet process": ["--without-protonet"]}
IMPORTS = ("onnxruntime", "torch", "sklearn.ensemble", "scipy.ndimage", "SimpleITK")


@dataclass(frozen=True)
class StepTiming:
    """One step's times over its repeats and the peak resident memory of its process."""

    step: str
    seconds: list
    max_rss_mb: float
    cpu_seconds: list = field(default_factory=list)  # user + system time of each process (process steps)

    @property
    def median(self) -> float:
        """Median time in seconds."""
        return float(np.median(self.seconds))


POLL_SECONDS = 0.01


def _high_water_mb(pid: int) -> float:
    """The resident-set high-water mark of a running process in MB (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def _spawn_measured(argv: Sequence[str], env: dict, log: Path) -> tuple[float, float, float]:
    """Run a child (output to `log`); its wall time, its own peak resident memory in MB (polled) and its CPU
    seconds (user + system)."""
    started = time.perf_counter()
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    pid = os.posix_spawn(argv[0], list(argv), env, file_actions=actions)
    peak = 0.0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        peak = max(peak, _high_water_mb(pid))
        time.sleep(POLL_SECONDS)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        raise RuntimeError(f"benchmark child {Path(argv[0]).name} {argv[1:4]} failed: {lines[-1] if lines else status}")
    return wall, peak, usage.ru_utime + usage.ru_stime


def run_benchmark(volume_path: Path, support_path: Path, other_support_path: Path, work_dir: Path,
                  repeats: int = 5, threads: int = 2, model: str | None = None) -> list[StepTiming]:
    """Measure every step; `threads` caps torch/OpenMP/VTK threads in the children."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               SPECTFEWSHOT_BENCH_THREADS=str(threads))
    if model:
        env["SPECTFEWSHOT_BENCH_MODEL"] = model
    python = sys.executable
    log, result = work_dir / "child.log", work_dir / "child.json"
    inputs = [str(volume_path), str(support_path), str(other_support_path)]
    results = []
    for step in STEPS:
        _, rss, _ = _spawn_measured([python, "-m", __name__, step, *inputs, str(work_dir / "out.seg.nrrd"),
                                     str(repeats), str(result)], env, log)
        results.append(StepTiming(step, json.loads(result.read_text(encoding="utf-8"))["seconds"], rss))
    cli = str(Path(python).with_name("spectfewshot"))
    commands = {name: [cli, "classify", str(volume_path), "--support", str(support_path), "-o",
                       str(work_dir / "classified.seg.nrrd"), *options] + (["--model", model] if model else [])
                for name, options in CLASSIFY_PROCESSES.items()}
    commands["GrowCut process"] = [python, "-m", __name__, "GrowCut process", *inputs,
                                   str(work_dir / "growcut.seg.nrrd"), "1", str(result)]
    commands["python start"] = [python, "-c", "pass"]
    commands.update({f"import {name}": [python, "-c", f"import {name}"] for name in IMPORTS})
    measured: dict[str, list] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            measured[name].append(_spawn_measured(argv, env, log))
    for name, runs in measured.items():
        results.append(StepTiming(name, [r[0] for r in runs], max(r[1] for r in runs), [r[2] for r in runs]))
    return results


def _child(step: str, volume_path: str, support_path: str, other_path: str, output: str, repeats: int) -> dict:
    """The measured work of one step, in this (child) process."""
    from SPECTFewShotLib.io.segmentation_io import read_segmentation, write_segmentation
    from SPECTFewShotLib.io.volume_io import read_volume

    volume = read_volume(volume_path)
    support = read_segmentation(support_path)
    seconds = []
    if step in ("features", "reclassify", "reclassify learner"):
        from SPECTFewShotLib.classification.session import StudySession

        threads = int(os.environ.get("SPECTFEWSHOT_BENCH_THREADS", "2"))
        session = StudySession(os.environ.get("SPECTFEWSHOT_BENCH_MODEL"), "cpu", workers=threads,
                               stages="learner" if step == "reclassify learner" else "full")
        session.set_volume(volume)  # warm-up (first-call allocations), not timed for "features"
        if step == "features":
            for _ in range(repeats):
                started = time.perf_counter()
                session.set_volume(volume)
                seconds.append(time.perf_counter() - started)
        else:
            other = read_segmentation(other_path)
            session.set_support(other)
            session.predict()
            for index in range(repeats):
                started = time.perf_counter()
                session.set_support(support if index % 2 == 0 else other)
                session.predict()
                seconds.append(time.perf_counter() - started)
    elif step in ("GrowCut", "GrowCut process"):
        from SPECTFewShotLib.io.segmentation_io import Segmentation
        from SPECTFewShotLib.research.baselines.growcut import grow_from_seeds

        for _ in range(repeats):
            started = time.perf_counter()
            labels = grow_from_seeds(volume, support.labels.array)
            seconds.append(time.perf_counter() - started)
        if step == "GrowCut process":
            write_segmentation(Segmentation(volume.with_array(labels), support.segments), output)
    else:
        raise SystemExit(f"unknown step {step}")
    return {"seconds": seconds}


if __name__ == "__main__":
    Path(sys.argv[7]).write_text(json.dumps(_child(*sys.argv[1:6], int(sys.argv[6]))), encoding="utf-8")
