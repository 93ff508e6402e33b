"""``posekit export``: write a catalogue network (with its weights) or a ``posekit train`` checkpoint as ONNX."""

from __future__ import annotations

import argparse
import logging

__all__ = ["register", "run"]

log = logging.getLogger(__name__)

_HELP = "export a PyTorch network (catalogue name + checkpoint, or a posekit train checkpoint) to ONNX"
_EPILOG = """\
examples:
  posekit export hrnet_w32_256x192 --checkpoint pose_hrnet_w32_256x192.pth --out hrnet_w32.onnx
  posekit export fastpose_res50_256x192 --checkpoint fast_res50_256x192.pth --out fastpose.onnx
  posekit export runs/tiny/best.pth --out tiny.onnx      # a checkpoint written by posekit train
Pose networks carry their crop/normalisation contract as ONNX metadata 'posekit.spec',
so 'posekit predict --pose-model FILE.onnx' needs no further options.
Run 'posekit models' or see posekit.models.list_models() for the names.
"""


def register(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser(
        "export", help=_HELP, description=_HELP, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL",
                        help="catalogue network name (e.g. hrnet_w32_256x192) or a posekit train checkpoint (.pth)")
    parser.add_argument("--checkpoint", metavar="F", help="official checkpoint (.pth, or .weights for yolov3_spp)")
    parser.add_argument("--sha256", help="verify the checkpoint against this sha256 first")
    parser.add_argument("--out", required=True, metavar="FILE", help="output .onnx path")
    parser.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset (default 17)")
    parser.add_argument("--static-batch", action="store_true", help="fix the batch size to 1 (default: dynamic)")
    parser.add_argument("--input-size", type=int, metavar="S", help="detectors only: square input size (multiple of 32)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build, load and export; returns the exit code."""
    from pathlib import Path

    from posekit.models.registry import get_pretrained_config, list_models

    if Path(args.model).suffix.lower() in (".pth", ".pt") and Path(args.model).is_file():
        return _run_trained(args)
    try:
        config = get_pretrained_config(args.model)
    except KeyError:
        log.error("unknown model %r; choices: %s", args.model, ", ".join(list_models()))
        return 2
    try:
        import torch  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as exc:
        log.error("posekit export needs torch and onnx (pip install 'posekit[torch]'): %s", exc)
        return 1

    from posekit.export import export_registered
    from posekit.models.checkpoint import CheckpointError

    kwargs = {}
    if args.input_size:
        if config.task != "detection":
            log.error("--input-size only applies to detectors; %s has a fixed %dx%d input", args.model, *config.input_size)
            return 2
        kwargs["input_size"] = args.input_size
    if args.sha256:
        kwargs["sha256"] = args.sha256
    try:
        path = export_registered(
            args.model, args.checkpoint, args.out, opset=args.opset, dynamic_batch=not args.static_batch, **kwargs
        )
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    log.info("wrote %s (licence of the weights: %s)", path, config.license)
    return 0


def _run_trained(args: argparse.Namespace) -> int:
    """Export a ``posekit train`` checkpoint with the network name and spec stored in it."""
    if args.checkpoint or args.input_size or args.sha256:
        log.error("%s is a posekit train checkpoint: --checkpoint, --sha256 and --input-size do not apply", args.model)
        return 2
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        log.error("posekit export needs torch and onnx (pip install 'posekit[torch]'): %s", exc)
        return 1
    from posekit.export import export_trained
    from posekit.models.checkpoint import CheckpointError

    try:
        path = export_trained(args.model, args.out, opset=args.opset, dynamic_batch=not args.static_batch)
    except (CheckpointError, FileNotFoundError, ValueError, KeyError) as exc:
        log.error("%s", exc)
        return 1
    log.info("wrote %s from %s", path, args.model)
    return 0
