"""Interrupted writes: a `classify` or `localize` run killed at any moment while it writes over existing outputs leaves
each output either intact (the previous bytes) or complete (the new result), never a truncated file.

The runs are the real commands (`run_cli`), with the previous results already at the output paths. When the command
starts its first atomic write, the test forks it many times; each copy carries on writing and is stopped:
- at byte N of the file it is writing, for N spread over the whole write (the kernel ends the process at that byte:
  RLIMIT_FSIZE with SIGXFSZ's default action, no handler and no clean-up runs, as with SIGKILL at that byte);
- by SIGKILL from the test after a random delay within the write's duration;
- by SIGKILL right after a temporary file is complete and right after each rename.
After each copy dies the outputs are checked, then restored to the previous results. Forking at the write keeps one
kill point to milliseconds. `python -m Testing.product.test_reliability_kill --points 2000` runs a larger series.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import signal
import sys
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NoReturn

import numpy as np

from SPECTFewShotLib.io import atomic
from SPECTFewShotLib.io.markups_io import Landmark, read_landmarks, write_landmarks
from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import write_volume
from Testing.cli_runner import run_cli

KILL_POINTS = 110  # per command: 220 in all
REPORTS: dict[str, KillReport] = {}
CHILD_TIMEOUT_S = 20.0
POSIX = hasattr(os, "fork") and hasattr(resource, "RLIMIT_FSIZE")


class _Resume(BaseException):
    """Unwinds a forked copy out of the kill series back into the command's write."""


@dataclass
class KillReport:
    """What the kill series saw: per kill point, which output was old, new, or broken."""

    points: int = 0
    by_mode: dict[str, int] = field(default_factory=dict)
    old: int = 0
    new: int = 0
    broken: list[str] = field(default_factory=list)
    leftovers_seen: int = 0


class KillSeries:
    """Fork the running command at its first atomic write, kill each copy at one point, check and restore."""

    def __init__(self, outputs: list[Path], previous: dict[Path, bytes], check_new: Callable[[Path], bool],
                 points: int, seed: int = 29) -> None:
        self.outputs, self.previous, self.check_new = outputs, previous, check_new
        self.points, self.rng = points, random.Random(seed)
        self.parent = os.getpid()
        self.report = KillReport()
        self.started = False
        self.child_kill_stage: tuple[str, int] | None = None
        self.stage_count = 0

    # -- in the command's process --
    def hook(self, stage: str, target: Path) -> None:
        """atomic.write_hook: the parent forks the series at the first write; a child may die at a stage."""
        if os.getpid() != self.parent:
            self.stage_count += 1
            if self.child_kill_stage and (stage, self.stage_count) == self.child_kill_stage:
                os.kill(os.getpid(), signal.SIGKILL)
            return
        if stage == "start" and not self.started:
            self.started = True
            try:
                self.run_series()
            except _Resume:  # a forked copy: carry on with the write
                return

    def run_series(self) -> None:
        duration, sizes = self.measure()
        stages = self.stage_points()
        largest = max(sizes)
        wanted = max(self.points - self.points // 4 - len(stages), 1)
        offsets = sorted({int(v) for v in np.linspace(0, largest, wanted, endpoint=False)})
        n_signal = max(self.points - len(offsets) - len(stages), 1)  # every byte taken: the rest by time
        for offset in offsets:
            self.one_point("byte offset", lambda n=offset: self.limit_bytes(n))
        for stage in stages:
            self.one_point("after a temporary file / a rename", lambda s=stage: self.kill_at_stage(s))
        for _ in range(n_signal):
            delay = self.rng.uniform(0.0, duration)
            self.one_point("SIGKILL at a random time", None, delay)

    def measure(self) -> tuple[float, list[int]]:
        """Duration of one uninterrupted write (seconds) and the sizes of the new outputs; restores the old ones."""
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            self._child(None)
        _, status = os.waitpid(pid, 0)
        duration = time.perf_counter() - started
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            raise AssertionError(f"an uninterrupted write failed (status {status})")
        sizes = [path.stat().st_size for path in self.outputs]
        for path in self.outputs:
            if not self.check_new(path):
                raise AssertionError(f"an uninterrupted write left {path.name} unreadable")
        self.restore()
        return duration, sizes

    def stage_points(self) -> list[tuple[str, int]]:
        """(stage, n): the n-th hook call in a child is 'written' or 'replaced', two per output file."""
        points, count = [], 0
        for _ in self.outputs:
            count += 1  # start
            points += [("written", count + 1), ("replaced", count + 2)]
            count += 2
        return points

    def one_point(self, mode: str, prepare: Callable[[], None] | None, delay: float | None = None) -> None:
        pid = os.fork()
        if pid == 0:
            self._child(prepare)
        if delay is not None:
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._wait(pid)
        self.report.points += 1
        self.report.by_mode[mode] = self.report.by_mode.get(mode, 0) + 1
        self.check(mode)
        self.restore()

    def _child(self, prepare: Callable[[], None] | None) -> NoReturn:
        self.stage_count = 1  # the parent forked inside the first 'start'
        try:
            if prepare is not None:
                prepare()
        except BaseException:
            os._exit(3)
        # Back into the command: it carries on writing; `run_and_exit_children` ends this process afterwards.
        raise _Resume

    def _wait(self, pid: int) -> None:
        hung = threading.Timer(CHILD_TIMEOUT_S, self._stop_hung, (pid,))
        hung.start()
        try:
            os.waitpid(pid, 0)
        finally:
            hung.cancel()

    def _stop_hung(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.report.broken.append("a writer hung (killed after the timeout)")

    @staticmethod
    def limit_bytes(offset: int) -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (offset, hard))

    def kill_at_stage(self, stage: tuple[str, int]) -> None:
        self.child_kill_stage = stage

    # -- checks --
    def check(self, mode: str) -> None:
        for path in self.outputs:
            if path.exists() and path.read_bytes() == self.previous[path]:
                self.report.old += 1
            elif path.exists() and self.check_new(path):
                self.report.new += 1
            else:
                size = path.stat().st_size if path.exists() else "missing"
                self.report.broken.append(f"{path.name} ({mode}): neither the previous nor a complete file ({size})")
        self.report.leftovers_seen += sum(len(atomic.leftover_partials(p)) for p in self.outputs)

    def restore(self) -> None:
        for path in self.outputs:
            path.write_bytes(self.previous[path])


def run_and_exit_children(series: KillSeries, argv: list) -> tuple[int, str, str]:
    """Run the command with the series' hook; a forked copy that returns here exits instead of running the tests."""
    atomic.write_hook = series.hook
    try:
        return run_cli(*argv)
    finally:
        if os.getpid() != series.parent:
            os._exit(0)
        atomic.write_hook = None


def ring_study(root: Path) -> tuple[Path, Path, Segmentation]:
    """A small study (a bright ring in a background), a two-slice painting, and a different 'previous' result."""
    _k, j, i = np.mgrid[0:12, 0:16, 0:16]
    radius = np.hypot(j - 7.5, i - 7.5)
    classes = np.where(radius < 3, 3, np.where(radius < 6, 2, 1)).astype(np.int32)
    rng = np.random.default_rng(3)
    counts = np.choose(classes - 1, [10.0, 100.0, 40.0]) + rng.normal(0, 2, classes.shape)
    from SPECTFewShotLib.volume import Volume

    volume = Volume(counts.astype(np.float32), (4.0, 4.0, 4.0), (0.0, 0.0, 0.0))
    painted = np.zeros_like(classes)
    painted[[3, 8]] = classes[[3, 8]]
    support = Segmentation(volume.with_array(painted), segments_for([1, 2, 3]))
    previous = Segmentation(volume.with_array(np.ones_like(classes)), segments_for([1]))
    return (write_volume(volume, root / "study.nii.gz"), write_segmentation(support, root / "painted.seg.nrrd"),
            previous)


@unittest.skipUnless(POSIX, "fork and RLIMIT_FSIZE are POSIX")
class ClassifyKillTest(unittest.TestCase):
    def test_killed_classify_leaves_old_or_complete_outputs(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            volume_path, support_path, previous = ring_study(root)
            output, probabilities = root / "result.seg.nrrd", root / "probabilities.nrrd"
            write_segmentation(previous, output)
            probabilities.write_bytes(b"NRRD0004\n# the previous probabilities\n")
            old = {output: output.read_bytes(), probabilities: probabilities.read_bytes()}
            inputs = {p: p.read_bytes() for p in (volume_path, support_path)}

            def complete(path: Path) -> bool:
                try:
                    if path == output:
                        return len(read_segmentation(path).segments) == 3
                    from SPECTFewShotLib.protonet.probability_io import read_probabilities

                    values, labels, _ = read_probabilities(path)
                    return labels == [1, 2, 3] and np.allclose(values.sum(axis=0), 1, atol=1e-3)
                except Exception:
                    return False

            series = KillSeries([output, probabilities], old, complete, KILL_POINTS)
            code, _, err = run_and_exit_children(series, ["classify", volume_path, "--support", support_path,
                                                          "-o", output, "--probabilities", probabilities,
                                                          "--device", "cpu"])
            self.assertEqual(code, 0, err)
            report = REPORTS["classify"] = series.report
            self.assertGreaterEqual(report.points, KILL_POINTS)
            self.assertEqual(report.broken, [])
            self.assertGreater(report.old, 0)
            self.assertGreater(report.new, 0)
            self.assertTrue(complete(output) and complete(probabilities))
            self.assertEqual(sorted(p.name for p in root.iterdir() if p.name.startswith(".")), [],
                             "the last complete write removes what killed writers left")
            self.assertEqual({p: p.read_bytes() for p in inputs}, inputs)


@unittest.skipUnless(POSIX, "fork and RLIMIT_FSIZE are POSIX")
class LocalizeKillTest(unittest.TestCase):
    def test_killed_localize_leaves_old_or_complete_markups(self):
        from Testing.prnet_synthetic import synthetic_torso

        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            template, truth = synthetic_torso(0, size=30, spacing=7.0)
            target, _ = synthetic_torso(1, size=30, spacing=7.0, shift_mm=(8.0, -5.0, 6.0))
            template_path = write_volume(template, root / "template.nii.gz")
            target_path = write_volume(target, root / "target.nrrd")
            landmarks = [Landmark(name, tuple(float(v) for v in p)) for name, p in truth.items()]
            template_landmarks = write_landmarks(landmarks, root / "template.mrk.json")
            output = write_landmarks([Landmark("previous", (1.0, 2.0, 3.0))], root / "placed.mrk.json")
            old = {output: output.read_bytes()}
            inputs = {p: p.read_bytes() for p in (template_path, target_path, template_landmarks)}

            def complete(path: Path) -> bool:
                try:
                    return [lm.label for lm in read_landmarks(path)] == [lm.label for lm in landmarks]
                except Exception:
                    return False

            series = KillSeries([output], old, complete, KILL_POINTS)
            code, _, err = run_and_exit_children(series, ["localize", target_path, "--template", template_path,
                                                          "--template-landmarks", template_landmarks, "-o", output])
            self.assertEqual(code, 0, err)
            REPORTS["localize"] = series.report
            self.assertGreaterEqual(series.report.points, KILL_POINTS)
            self.assertEqual(series.report.broken, [])
            self.assertGreater(series.report.old, 0)
            self.assertGreater(series.report.new, 0)
            self.assertTrue(complete(output))
            self.assertEqual({p: p.read_bytes() for p in inputs}, inputs)


class PermissionsTest(unittest.TestCase):
    @unittest.skipUnless(os.name == "posix", "POSIX permissions")
    def test_a_rewritten_output_keeps_its_permissions_and_a_new_one_follows_the_umask(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "landmarks.mrk.json"
            write_landmarks([Landmark("a", (0.0, 0.0, 0.0))], path)
            umask = os.umask(0o022)
            os.umask(umask)
            self.assertEqual(path.stat().st_mode & 0o777, 0o666 & ~umask)
            path.chmod(0o640)
            write_landmarks([Landmark("b", (1.0, 0.0, 0.0))], path)
            self.assertEqual(path.stat().st_mode & 0o777, 0o640)

    def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "result.nii.gz"
            path.write_bytes(b"previous")
            with self.assertRaises(RuntimeError), atomic.atomic_path(path) as partial:
                partial.write_bytes(b"half")
                raise RuntimeError("stopped")
            self.assertEqual(path.read_bytes(), b"previous")
            self.assertEqual([p.name for p in Path(tmp).iterdir()], ["result.nii.gz"])

    def test_a_killed_writers_leftover_is_removed_by_the_next_write_but_a_live_ones_is_kept(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "result.mrk.json"
            dead = Path(tmp) / f"{atomic.partial_prefix(path)}{_dead_pid()}-abc.mrk.json"
            alive = Path(tmp) / f"{atomic.partial_prefix(path)}{os.getppid()}-def.mrk.json"
            dead.write_text("{")
            alive.write_text("{")
            write_landmarks([Landmark("a", (0.0, 0.0, 0.0))], path)
            self.assertFalse(dead.exists() and os.name != "nt")
            self.assertTrue(alive.exists())


def _dead_pid() -> int:
    """The id of a process that has ended."""
    if not hasattr(os, "fork"):
        return 999_999_999
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def main() -> int:
    """A larger kill series from the command line; prints the report of each command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    args = parser.parse_args()
    global KILL_POINTS
    KILL_POINTS = args.points
    suite = unittest.TestSuite([ClassifyKillTest("test_killed_classify_leaves_old_or_complete_outputs"),
                                LocalizeKillTest("test_killed_localize_leaves_old_or_complete_markups")])
    started = time.perf_counter()
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    for command, report in REPORTS.items():
        print(f"{command}: {report.points} kill points {report.by_mode}; outputs previous {report.old}, "
              f"complete new {report.new}, broken {len(report.broken)}; leftover temporary files seen "
              f"{report.leftovers_seen} (each removed by the next write)", file=sys.stderr)
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
