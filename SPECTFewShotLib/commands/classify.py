"""`spectfewshot classify VOLUME --support SUPPORT -o OUTPUT`: classify every voxel from a few painted shots.

The ProtoNet embedding of the volume is computed once (by ONNX Runtime on the CPU where it is installed, else by
torch; `--runtime`); prototypes are built from the painted voxels and give every
voxel its class probabilities (the prior). A learner fitted on this study's own paint reads them beside the study's
intensities at several scales and the distances to the paint (each painted voxel sees the prior and the distances
as they would be without its own slice of paint), then a graph cut makes the answer spatially coherent, and blood
pool the myocardium does not enclose goes to another class. `--stages prior` runs ProtoNet alone, `--stages
learner` skips the graph cut, `--without-protonet` runs the same learner and graph cut without the prior (the
ablation: what ProtoNet adds on your data). Painted voxels keep their labels; a class that is not painted never
appears.

SUPPORT is a labelmap on VOLUME's grid (0 = unpainted, every other value a class) or a Slicer `.seg.nrrd`; OUTPUT
holds the painted label values on VOLUME's grid (`.seg.nrrd` keeps segment names and colors, a labelmap gets a
`.ctbl` color table beside it). `--probabilities FILE` (.nrrd or .mha) writes one float32 component per class: the
probabilities the labels come from (each voxel's label is its most probable class), calibrated to the painted
classes' shares, painted voxels certain.
"""

from __future__ import annotations

import argparse
import importlib
import threading
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.segmentation_io import check_segmentation_output, read_segmentation, write_segmentation
from ..io.volume_io import read_volume, require_counts
from ..protonet.onnx_embedding import RUNTIMES
from ..runtime.device import DEVICE_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `classify` subcommand."""
    parser = subparsers.add_parser("classify", help="classify every voxel from a few painted shots",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("volume", help="the SPECT volume (NIfTI, NRRD, MetaImage, DICOM file or folder)")
    parser.add_argument("--support", required=True, help="painted labelmap on the volume's grid, or a .seg.nrrd")
    parser.add_argument("-o", "--output", required=True, help="output segmentation (.seg.nrrd, .nrrd, .nii.gz)")
    parser.add_argument("--probabilities", metavar="FILE", help="also write per-class probabilities (.nrrd, .mha)")
    parser.add_argument("--stages", default="full", choices=("prior", "preview", "learner", "full"),
                        help="prior: ProtoNet alone; preview: the learner's quick answer (a sample of the paint, a "
                             "coarse grid, no graph cut); learner: the per-study learner without the graph cut; "
                             "full: learner and graph cut (default: %(default)s)")
    parser.add_argument("--without-protonet", action="store_true",
                        help="the same learner and graph cut without the ProtoNet prior (the ablation)")
    parser.add_argument("--model", help="registered ProtoNet model id or a weights file (default: the shipped one)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="where the ProtoNet network runs: auto = the CPU by ONNX Runtime (see --runtime), else "
                             "torch's GPU when it has one; cuda runs torch on the GPU (default: %(default)s)")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES,
                        help="what runs the ProtoNet network: auto = ONNX Runtime on the CPU where it is installed and "
                             "the weights have a registered ONNX export, else torch; the same embeddings to ~1e-5 "
                             "(default: %(default)s)")
    parser.add_argument("--no-prior", action="store_true",
                        help="with --stages prior: no shape prior from the painted slices")
    parser.add_argument("--no-refine", action="store_true",
                        help="with --stages prior: keep regions of a class that touch none of its painted voxels")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check every input and output path, classify, then write the results."""
    from ..classification.session import StudySession
    from ..protonet.probability_io import check_probability_output, write_probabilities
    from ..protonet.spatial_prior import SpatialPrior
    from ..protonet.support import check_support

    output = check_segmentation_output(args.output)
    outputs = [output]
    if args.probabilities:
        outputs.append(check_probability_output(args.probabilities))
    _refuse_overwriting_inputs(outputs, [Path(args.volume), Path(args.support)])
    volume = require_counts(read_volume(args.volume), Path(args.volume).name)
    support = read_segmentation(args.support)
    painted = check_support(support, volume)
    if args.without_protonet and args.stages == "prior":
        raise InputError("--without-protonet leaves nothing to run with --stages prior; choose learner or full")
    # the network's runtime (ONNX Runtime or torch) and scikit-learn (the learner) take a while to import: they load
    # in the background while the filter bank runs (which releases the GIL), each before it is first needed; started
    # after the inputs are read, whose Python work an importing thread would slow down
    modules = ([] if args.without_protonet else _network_modules(args)) + \
        ["SPECTFewShotLib.classification.learner", "sklearn.ensemble"]
    threading.Thread(target=_import_all, args=(modules,), daemon=True).start()
    started = time.perf_counter()
    session = StudySession(args.model, args.device, stages=args.stages, use_protonet=not args.without_protonet,
                           runtime=args.runtime)
    if args.stages == "prior":
        session.prior.refine = not args.no_refine
        session.prior.spatial_prior = None if args.no_prior else SpatialPrior()
    session.set_volume(volume)
    session.set_support(support)
    result = session.predict()
    elapsed = time.perf_counter() - started
    write_segmentation(result.labels, output)
    print(f"wrote {output}")
    if args.probabilities:
        write_probabilities(result.probabilities, volume, result.class_labels, result.class_names,
                            args.probabilities)
        print(f"wrote {args.probabilities}")
    counts = np.bincount(np.searchsorted(result.class_labels, result.labels.labels.array.ravel()),
                         minlength=len(result.class_labels))
    stages = ["per-study learner" + (" preview (a sample of the paint, a coarse grid)" if args.stages == "preview"
                                     else "")] + (["graph cut"] if args.stages == "full" else [])
    if args.stages == "prior":
        stages = []
    if not args.without_protonet:
        model = session.model_entry.id if session.model_entry else "in-memory"
        reads = "embedding" if args.stages == "preview" else "prototypes from the paint"  # the preview's input
        stages.insert(0, f"ProtoNet {reads} (model {model}, {session.prior.runtime} on {session.device.type})")
    how = ", ".join(stages[:-1]) + (" and " if len(stages) > 1 else "") + stages[-1]
    print(f"classified {volume.array.size} voxels from {int((painted.labels != 0).sum())} painted voxels "
          f"in {elapsed:.2f} s ({how})")
    for label, name, count in zip(result.class_labels, result.class_names, counts):
        print(f"  {label:>5}  {name:<24} {int(count):>9} voxels  {count * volume.voxel_volume_ml:9.1f} mL")
    return 0


def _network_modules(args: argparse.Namespace) -> list[str]:
    """The modules the ProtoNet network's runtime needs, as the session will choose it (prior_session.load_network):
    ONNX Runtime on the CPU where it can, else torch."""
    from ..protonet.onnx_embedding import runs_on_onnxruntime

    onnx = runs_on_onnxruntime(args.model, args.device, args.runtime)
    return ["SPECTFewShotLib.classification.prior_session"] + (
        ["onnxruntime"] if onnx else ["SPECTFewShotLib.protonet.model_store", "SPECTFewShotLib.protonet.embedding"])


def _import_all(modules: list[str]) -> None:
    """Import the modules in turn (a background thread's work; a failure shows where the module is used)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the main thread imports it again and reports the error there
            return


def _refuse_overwriting_inputs(outputs: list[Path], inputs: list[Path]) -> None:
    """An output path that names an input file would destroy the user's data: refuse it."""
    for out in outputs:
        for source in inputs:
            if out.exists() and source.exists() and out.resolve() == source.resolve():
                raise InputError(f"output {out.name} would overwrite the input {source.name}; choose another name")
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise InputError("the segmentation and the probabilities need two different output files")
