"""What the video benchmarks share: where ``../shared`` is, and the estimator they run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSEKIT_SHARED", REPO.parent / "shared"))


def add_estimator_arguments(parser: argparse.ArgumentParser, *, pose_model: str = "movenet_thunder",
                            det_thresh: float | None = None) -> None:
    """``--preset --detector --pose-model --models-dir --det-thresh --flip --threads``."""
    parser.add_argument("--preset", default=None,
                        help="a posekit preset (fast, balanced, accurate, movenet); the model options below are then "
                             "ignored")
    parser.add_argument("--min-box-size", type=float, default=None,
                        help="with --preset: override its crop budget's minimum box side (pixels)")
    parser.add_argument("--detector", default="yolox_nano")
    parser.add_argument("--pose-model", default=pose_model)
    parser.add_argument("--models-dir", default=str(SHARED / "models"))
    parser.add_argument("--det-thresh", type=float, default=det_thresh,
                        help="detector confidence threshold (default: %(default)s; None: the estimator's, 0.05)")
    parser.add_argument("--flip", action="store_true", help="flip test (off here: twice the pose-network cost)")
    parser.add_argument("--threads", type=int, default=None)


def build_estimator(args: argparse.Namespace, num_threads: int | None = None) -> Any:
    """The :class:`posekit.pipeline.PoseEstimator` the arguments of :func:`add_estimator_arguments` describe
    (``num_threads``: instead of ``--threads``)."""
    from posekit.detect.onnx_detectors import DetectorConfig
    from posekit.pipeline import PoseEstimator

    threads = num_threads if num_threads is not None else args.threads
    if args.preset:
        from posekit.presets import get_preset

        preset = get_preset(args.preset)
        if args.min_box_size is not None:
            preset = preset.with_(min_box_size=args.min_box_size)
        return PoseEstimator(preset=preset, models_dir=args.models_dir, num_threads=threads)
    det_config = DetectorConfig() if args.det_thresh is None else DetectorConfig(conf_thresh=args.det_thresh)
    return PoseEstimator(args.detector, args.pose_model, models_dir=args.models_dir, num_threads=threads,
                         detector_config=det_config, flip_test=args.flip)
