"""``posekit quantize``: derive an int8 (static QDQ) ONNX file from an fp32 catalogue model or ``.onnx`` file."""

from __future__ import annotations

import argparse
import logging

__all__ = ["register", "run"]

log = logging.getLogger(__name__)

_HELP = "derive an int8 (static, QDQ) ONNX file from an fp32 pose or detector network, calibrated on images"
_EPILOG = """\
examples:
  posekit quantize pp_tinypose_256x192 --images dev/images --gt dev/person_keypoints.json
  posekit quantize picodet_s_320 --images dev/images
  posekit quantize my_pose.onnx --images photos/ --detector picodet_s_320 --out my_pose.int8.onnx
  posekit quantize pp_tinypose_256x192 --check          # is a valid int8 file cached?
Pose networks are calibrated on person crops: ground-truth boxes (--gt), else the boxes of
--detector, else the whole image; detectors on whole images. The int8 file goes beside the
fp32 file (<stem>.int8.onnx) when that folder is writable, else into the user cache; the
sidecar <file>.sha256 records its sha256 and the fp32 file's, so a stale file is rebuilt.
Derived files: never commit them. Needs the onnx package.
Measured on PP-TinyPose and PP-PicoDet (ONNX Runtime 1.32): int8 costs far more accuracy than
the 0.005 AP budget; see the posekit.quantize module docstring before using these files.
"""


def register(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser(
        "quantize", help=_HELP, description=_HELP, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL",
                        help="catalogue name of an ONNX model (e.g. pp_tinypose_256x192) or a .onnx file")
    parser.add_argument("--images", metavar="DIR", nargs="+", help="calibration images (folders, files or globs)")
    parser.add_argument("--gt", metavar="JSON", help="COCO person annotations: their boxes give the pose crops")
    parser.add_argument("--detector", metavar="NAME",
                        help="pose networks: find people with this detector in images --gt does not list")
    parser.add_argument("--max-images", type=int, default=64, metavar="N", help="calibration images used (default 64)")
    parser.add_argument("--out", metavar="FILE", help="int8 file (default: beside the fp32 file, or the user cache)")
    parser.add_argument("--spec-from", metavar="NAME",
                        help="for a .onnx file: take its input/output contract from this catalogue entry")
    parser.add_argument("--models-dir", metavar="DIR",
                        help="folder of the model files (default: $POSEKIT_MODELS or the cache)")
    parser.add_argument("--calibrate-method", choices=("minmax", "percentile", "entropy"), default="minmax",
                        help="activation ranges (default minmax; percentile/entropy hold every activation in memory)")
    parser.add_argument("--no-equalize", action="store_true", help="skip the channel-range equalisation of conv pairs")
    parser.add_argument("--check", action="store_true",
                        help="only report whether a valid int8 file exists (exit 0) or not (exit 1)")
    parser.set_defaults(func=run)


def _resolve(args: argparse.Namespace):
    """``(fp32 path, spec)`` of MODEL, or raise ValueError / KeyError / ModelFileError."""
    from pathlib import Path

    from posekit import catalog
    from posekit.io import sha256_file

    if args.model in catalog.CATALOG:
        entry = catalog.get(args.model)
        if entry.runtime != "onnx":
            raise ValueError(
                f"{args.model} is a PyTorch network: export it first (posekit export), then quantise the .onnx"
            )
        return catalog.model_file_path(args.model, args.models_dir), entry.spec
    path = Path(args.model)
    if path.suffix.lower() != ".onnx" or not path.is_file():
        names = [e.name for e in catalog.list_entries(runtime="onnx")]
        raise ValueError(f"{args.model!r} is neither an ONNX catalogue model ({', '.join(names)}) nor a .onnx file")
    if args.spec_from:
        return path, catalog.get(args.spec_from).spec
    digest = sha256_file(path)
    for entry in catalog.list_entries(runtime="onnx"):
        if entry.sha256 == digest:
            log.info("%s is catalogue model %s", path.name, entry.name)
            return path, entry.spec
    from posekit.pose.onnx_model import OnnxPoseModel

    log.info("%s is not in the catalogue: treating it as a pose network (use --spec-from for a detector)", path.name)
    return path, OnnxPoseModel(path, num_threads=1).spec


def run(args: argparse.Namespace) -> int:
    """Quantise MODEL (or check its cached int8 file); returns the exit code."""
    from pathlib import Path

    from posekit.catalog import ModelFileError
    from posekit.quantize import QuantizeError, quantize_model, quantized_path, read_sidecar, sidecar_path
    from posekit.spec import PoseModelSpec

    try:
        src, spec = _resolve(args)
    except (ValueError, KeyError, ModelFileError) as exc:
        log.error("%s", exc.args[0] if isinstance(exc, KeyError) else exc)
        return 2
    if args.check:
        found = quantized_path(src, args.out)
        if found is None:
            log.warning("no valid int8 file for %s (missing, or derived from another version of it)", src)
            return 1
        print(found)
        return 0
    if not args.images:
        log.error("--images is required (calibration images)")
        return 2

    from posekit.io import find_images

    try:
        images = find_images(args.images)
    except FileNotFoundError as exc:
        log.error("%s", exc)
        return 2
    if not images:
        log.error("no images found in %s", " ".join(args.images))
        return 2
    detector = None
    if args.detector:
        if not isinstance(spec, PoseModelSpec):
            log.error("--detector only applies to pose networks")
            return 2
        from posekit.factory import build_detector

        detector = build_detector(args.detector, models_dir=args.models_dir, num_threads=1)
    try:
        out = quantize_model(
            src, spec, images, args.out, gt=args.gt, detector=detector, max_images=args.max_images,
            calibrate_method=args.calibrate_method, equalize=not args.no_equalize,
        )
    except (QuantizeError, OSError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    meta = read_sidecar(out) or {}
    source = meta.get("source", {})
    log.info("wrote %s (%.2f MB, sha256 %s) from %s (%.2f MB, sha256 %s); %d calibration samples",
             out, meta.get("size", 0) / 1e6, meta.get("sha256"), Path(src).name, source.get("size", 0) / 1e6,
             source.get("sha256"), meta.get("settings", {}).get("calibration_samples", 0))
    log.info("sidecar %s; derived files: do not commit them", sidecar_path(out))
    print(out)
    return 0
