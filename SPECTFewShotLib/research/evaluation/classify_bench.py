"""Time and peak memory of the study classifier next to GrowCut, on the same volume and paint, in one run.

Every measured step runs in a child process of its own, so that its peak resident memory is that step's alone:
the kernel's high-water mark of the child's resident set (VmHWM in /proc/PID/status, which counts torch's
native allocations, unlike tracemalloc), polled every 10 ms while it runs. (The child's ru_maxrss from wait4
would not do: it starts from the parent's resident set at the fork.) Times are medians over repeats.

Steps: "features" (StudySession.set_volume), "reclassify" (set_support with a changed support + predict with all
stages, from cached features), "reclassify learner" (the same without the graph cut), "classify process" (the
whole `spectfewshot classify` command: start, read, classify, write),
"GrowCut" (vtkImageGrowCutSegment on the whole volume) and "GrowCut process" (start, read, grow, write).

Run as a module, this file is the child: `python -m SPECTFewShotLib.research.evaluation.classify_bench STEP VOLUME
SUPPORT OTHER_SUPPORT OUTPUT REPEATS RESULT.json`, writing {"seconds": [...]} to RESULT.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

STEPS = ("features", "reclassify", "reclassify learner", "classify process", "GrowCut", "GrowCut process")


@dataclass(frozen=True)
class StepTiming:
    """One step's times over its repeats and the peak resident memory of its process."""

    step: str
    seconds: list
    max_rss_mb: float

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


def _spawn_measured(argv: Sequence[str], env: dict, log: Path) -> tuple[float, float]:
    """Run a child (output to `log`); its wall time and its own peak resident memory in MB (polled)."""
    started = time.perf_counter()
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    pid = os.posix_spawn(argv[0], list(argv), env, file_actions=actions)
    peak = 0.0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        peak = max(peak, _high_water_mb(pid))
        time.sleep(POLL_SECONDS)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        raise RuntimeError(f"benchmark child {Path(argv[0]).name} {argv[1:4]} failed: {lines[-1] if lines else status}")
    return wall, peak


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
    for step in ("features", "reclassify", "reclassify learner", "GrowCut"):
        _, rss = _spawn_measured([python, "-m", __name__, step, *inputs, str(work_dir / "out.seg.nrrd"),
                                  str(repeats), str(result)], env, log)
        results.append(StepTiming(step, json.loads(result.read_text(encoding="utf-8"))["seconds"], rss))
    cli = str(Path(python).with_name("spectfewshot"))
    whole, whole_rss, grow, grow_rss = [], 0.0, [], 0.0
    for _ in range(repeats):
        argv = [cli, "classify", str(volume_path), "--support", str(support_path), "-o",
                str(work_dir / "protonet.seg.nrrd")] + (["--model", model] if model else [])
        wall, rss = _spawn_measured(argv, env, log)
        whole.append(wall)
        whole_rss = max(whole_rss, rss)
        wall, rss = _spawn_measured([python, "-m", __name__, "GrowCut process", *inputs,
                                     str(work_dir / "growcut.seg.nrrd"), "1", str(result)], env, log)
        grow.append(wall)
        grow_rss = max(grow_rss, rss)
    results.append(StepTiming("classify process", whole, whole_rss))
    results.append(StepTiming("GrowCut process", grow, grow_rss))
    return results


def _child(step: str, volume_path: str, support_path: str, other_path: str, output: str, repeats: int) -> dict:
    """The measured work of one step, in this (child) process."""
    from SPECTFewShotLib.io.segmentation_io import read_segmentation, write_segmentation
    from SPECTFewShotLib.io.volume_io import read_volume

    volume = read_volume(volume_path)
    support = read_segmentation(support_path)
    seconds = []
    if step in ("features", "reclassify", "reclassify learner"):
        import torch

        from SPECTFewShotLib.classification.session import StudySession

        threads = int(os.environ.get("SPECTFEWSHOT_BENCH_THREADS", "2"))
        torch.set_num_threads(threads)
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
