"""`spectfewshot bench localize`: seconds per volume to place 3 landmarks, the staged localiser next to affine
registration.

`--case real-copy` (default): the bundled real study (70 x 70 x 50 voxels of 4 mm) as template with its 3
reference LV landmarks, and its translated and rotated copy as the new volume. With `--templates N` the templates
are the study and N - 1 copies of it moved another way (templates from the same camera, as a clinic would
annotate).
`--case phantoms`: validation phantom 900000 (64^3 voxels of 5.6 mm) as the new volume and the next N phantoms as
templates: other hearts, so the registrations run longer, as they do between two patients.
Each run places the landmarks from scratch (the LV found and its frame estimated in the new volume and in every
template). Several templates are fused by the geometric median, for both methods. Medians of RUNS runs, torch and
SimpleITK limited to THREADS threads.
"""

from __future__ import annotations

import argparse
import statistics
import time

TARGET_SECONDS = 2.0


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bench localize`."""
    parser.add_argument("--runs", type=int, default=7, help="runs per method (default: %(default)s, at least 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--templates", type=int, default=1, help="templates fused per volume (default: %(default)s)")
    parser.add_argument("--case", choices=("real-copy", "phantoms"), default="real-copy",
                        help="the real study and its moved copy, or phantoms of other hearts (default: %(default)s)")
    parser.set_defaults(func=run)


def _template_copies(volume, landmarks, count: int) -> list:
    """The study itself and `count` - 1 copies moved otherwise than the target (templates of the same camera)."""
    from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy

    templates = [(volume, landmarks)]
    for number in range(1, count):
        sign = -1.0 if number % 2 else 1.0
        templates.append(moved_copy(volume, landmarks, (sign * 5.0, 4.0 * number, -3.0), (0.0, 1.0, sign),
                                    6.0 + number))
    return templates


def _phantom_case(count: int) -> tuple:
    """Validation phantom 900000 and the next `count` phantoms as templates, with their three LV landmarks."""
    from SPECTFewShotLib.research.phantom import generate_study
    from SPECTFewShotLib.research.seeds import validation_seeds
    from SPECTFewShotLib.vocabulary import LV_LANDMARK_NAMES

    studies = [generate_study(seed) for seed in validation_seeds(count + 1)]
    templates = [(study.image, [lm for lm in study.landmarks if lm.label in LV_LANDMARK_NAMES])
                 for study in studies[1:]]
    return studies[0].image, templates


def run(args: argparse.Namespace) -> int:
    """Time both methods on the same input; print medians."""
    import torch

    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.landmarks.fusion import fuse_landmarks
    from SPECTFewShotLib.landmarks.staged import Localizer
    from SPECTFewShotLib.research.baselines.registration import register_landmarks
    from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy, real_study_landmarks

    if args.runs < 5:
        raise InputError("--runs must be at least 5 (medians of at least 5 runs)")
    if args.threads < 1:
        raise InputError("--threads must be at least 1")
    if args.templates < 1:
        raise InputError("--templates must be at least 1")
    import SimpleITK as sitk

    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    if args.case == "phantoms":
        copy, templates = _phantom_case(args.templates)
        case = "validation phantom 900000"
    else:
        volume, landmarks = real_study_landmarks()
        copy, _ = moved_copy(volume, landmarks)
        templates = _template_copies(volume, landmarks, args.templates)
        case = "real study -> moved copy"
    started = time.perf_counter()
    localizer = Localizer()
    load_seconds = time.perf_counter() - started

    def registration(target, template_list):  # one template: its own placement (the median of one)
        return fuse_landmarks([register_landmarks(target, *template) for template in template_list])

    methods = {"Staged": localizer.localize_from_templates, "Registration": registration}
    times: dict[str, list[float]] = {name: [] for name in methods}
    localizer.localize(copy, *templates[0])  # warm-up (first-call allocations)
    for _ in range(args.runs):
        for name, method in methods.items():
            started = time.perf_counter()
            method(copy, templates)
            times[name].append(time.perf_counter() - started)
    source = "" if len(templates) == 1 else f" from {len(templates)} templates (geometric median)"
    print(f"bench localize: {case}{source}, {len(templates[0][1])} landmarks, {args.runs} runs, "
          f"{args.threads} threads, {localizer.model_id} (set up in {load_seconds:.2f} s)")
    print(f"{'method':<14}{'median s':>10}{'min s':>10}{'max s':>10}")
    for name, values in times.items():
        print(f"{name:<14}{statistics.median(values):>10.3f}{min(values):>10.3f}{max(values):>10.3f}")
    median = statistics.median(times["Staged"])
    verdict = "meets" if median <= TARGET_SECONDS else "misses"
    print(f"staged localiser median {median:.3f} s per volume {verdict} the {TARGET_SECONDS:.0f} s target; "
          f"registration median {statistics.median(times['Registration']):.3f} s")
    return 0
